"""Webhook deliveries of GitHub, GitLab and Gitea: signatures and events (payloads in the
shapes the providers send, under tests/fixtures/webhooks), and the linked URL's checks."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from moorage.errors import InvalidParams
from moorage.gitpush import webhooks
from moorage.gitpush.fetch import check_url, redact
from moorage.gitpush.webhooks import Event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
SECRET = "b7f1c0ffee"
GH = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"  # the pushed commits
GL = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
GT = "bffeb74224043ba2feb48d137756c8a9331c449a"
BR = "new-checkout"
PR = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the pull request's head


def _body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def _signed(provider: str, event: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {"X-GitHub-Event": event, "X-Hub-Signature-256": f"sha256={mac}"}
    if provider == "gitea":
        return {"X-Gitea-Event": event, "X-Gitea-Signature": mac}
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": secret}


@pytest.mark.parametrize(
    ("provider", "event", "fixture", "expected"),
    [
        ("github", "push", "github-push", Event("push", "main", GH)),
        ("github", "ping", "github-ping", Event("ping")),
        ("github", "pull_request", "github-pull_request",
             Event("pull_request", BR, PR, 42, "opened")),
        ("gitlab", "Push Hook", "gitlab-push", Event("push", "main", GL)),
        ("gitlab", "Merge Request Hook", "gitlab-merge_request",
             Event("pull_request", BR, PR, 7, "synchronize")),
        ("gitea", "push", "gitea-push", Event("push", "main", GT)),
        ("gitea", "delete", "gitea-delete", Event("delete", "new-checkout")),
    ],
)  # fmt: skip
def test_each_providers_signed_event_is_read(
    provider: str, event: str, fixture: str, expected: Event
) -> None:
    body = _body(fixture)
    headers = _signed(provider, event, body)
    assert webhooks.verify(provider, SECRET, headers, body)
    assert webhooks.parse(provider, headers, body) == expected


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_wrong_secret_or_a_changed_body_is_refused(provider: str) -> None:
    body = _body("github-push" if provider != "gitlab" else "gitlab-push")
    assert not webhooks.verify(provider, SECRET, _signed(provider, "push", body, "other"), body)
    assert not webhooks.verify(provider, SECRET, {}, body)
    if provider != "gitlab":  # GitLab sends the secret, not a signature of the body
        tampered = body.replace(b"main", b"prod")
        assert not webhooks.verify(provider, SECRET, _signed(provider, "push", body), tampered)


def test_branch_deletion_and_tags_read_as_such() -> None:
    body = _body("github-push").replace(
        b'"after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"', b'"after": "' + b"0" * 40 + b'"'
    )
    assert webhooks.parse("github", {"X-GitHub-Event": "push"}, body) == Event("delete", "main")
    tag = _body("github-push").replace(b"refs/heads/main", b"refs/tags/v1")
    seen = webhooks.parse("github", {"X-GitHub-Event": "push"}, tag)
    assert seen.kind == "ignored" and "refs/tags/v1" in seen.reason


def test_a_body_that_is_not_the_event_is_a_clear_error() -> None:
    with pytest.raises(InvalidParams, match="not the JSON that event sends"):
        webhooks.parse("github", {"X-GitHub-Event": "push"}, b'{"zen": "no ref here"}')
    with pytest.raises(InvalidParams, match="application/json"):
        webhooks.parse("gitea", {"X-Gitea-Event": "push"}, b"payload=%7B%7D")


def test_only_network_transports_are_fetched_and_passwords_never_shown() -> None:
    assert check_url("https://github.com/acme/shop.git")
    assert check_url("git://127.0.0.1:9418/shop.git")
    for bad in ("file:///etc", "ext::sh -c id", "/srv/repo.git", "https:///nohost"):
        with pytest.raises(InvalidParams, match="not a repository URL"):
            check_url(bad)
    shown = redact("https://x-token:ghp_s3cret@github.com:443/acme/shop.git")
    assert shown == "https://x-token:***@github.com:443/acme/shop.git"
    with pytest.raises(InvalidParams) as err:
        check_url("file://u:ghp_s3cret@host/x")
    assert "ghp_s3cret" not in str(err.value)
