"""Push and pull-request webhooks of GitHub, GitLab and Gitea, in Moorage's terms.

Pure: :func:`verify` checks a delivery against the secret the platform made when the app
was linked to its repository (GitHub and Gitea sign the body with HMAC-SHA256; GitLab sends
the secret itself as ``X-Gitlab-Token``), and :func:`parse` turns the body into an
:class:`Event`. Nothing in a payload is trusted for where to fetch from: the platform
fetches from the URL the app's owner linked, only the branch and commit come from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from moorage.errors import InvalidParams

PROVIDERS = ("github", "gitlab", "gitea")
ZERO = "0" * 40  # the commit of a deleted branch in push events
Kind = Literal["ping", "push", "delete", "pull_request", "ignored"]


@dataclass(frozen=True)
class Event:
    """``push``: ``branch`` now at ``commit``; ``delete``: ``branch`` is gone;
    ``pull_request``: ``number`` had ``action`` (opened, synchronize, closed, reopened), its
    head is ``branch`` at ``commit``; ``ignored``: ``reason`` says what it was."""

    kind: Kind
    branch: str = ""
    commit: str = ""
    number: int = 0
    action: str = ""
    reason: str = ""


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def verify(provider: str, secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the delivery carries ``secret``'s signature (compared in constant time)."""
    if provider == "gitlab":
        return hmac.compare_digest(_header(headers, "X-Gitlab-Token").encode(), secret.encode())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sent = _header(headers, "X-Hub-Signature-256").removeprefix("sha256=")
    if provider == "gitea" and not sent:
        sent = _header(headers, "X-Gitea-Signature")
    return bool(sent) and hmac.compare_digest(sent.encode(), digest.encode())


def event_name(provider: str, headers: Mapping[str, str]) -> str:
    names = {"github": "X-GitHub-Event", "gitea": "X-Gitea-Event", "gitlab": "X-Gitlab-Event"}
    return _header(headers, names[provider])


def parse(provider: str, headers: Mapping[str, str], body: bytes) -> Event:
    """The delivery as an :class:`Event`; a body that is not the event it says it is
    raises InvalidParams."""
    name = event_name(provider, headers)
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if provider == "gitlab":
            return _gitlab(name, data)
        return _github_like(name, data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidParams(
            f"The {provider} {name or 'webhook'} delivery is not the JSON that event sends "
            f"({exc.__class__.__name__}: {exc}). Send it with content type application/json."
        ) from exc


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""


def _push(ref: str, after: str, deleted: bool) -> Event:
    branch = _branch(ref)
    if not branch:
        return Event("ignored", reason=f"a push of {ref}, not of a branch")
    if deleted or after == ZERO:
        return Event("delete", branch=branch)
    return Event("push", branch=branch, commit=after)


def _github_like(name: str, data: dict[str, Any]) -> Event:
    """GitHub's events, and Gitea's, which share their shapes."""
    if name == "ping":
        return Event("ping")
    if name == "push":
        return _push(str(data["ref"]), str(data["after"]), bool(data.get("deleted")))
    if name == "delete" and data.get("ref_type") == "branch":  # Gitea's branch deletion
        return Event("delete", branch=str(data["ref"]))
    if name == "pull_request":
        pr, action = data["pull_request"], str(data["action"])
        head = pr["head"]
        action = "synchronize" if action == "synchronized" else action  # Gitea's spelling
        return Event(
            "pull_request",
            branch=str(head["ref"]),
            commit=str(head["sha"]),
            number=int(data["number"]),
            action=action,
        )
    return Event("ignored", reason=f"a {name or 'unnamed'} event")


_GITLAB_ACTIONS = {"open": "opened", "reopen": "reopened", "update": "synchronize"}


def _gitlab(name: str, data: dict[str, Any]) -> Event:
    kind = data.get("object_kind", "")
    if kind == "push":
        return _push(str(data["ref"]), str(data["after"]), False)
    if kind == "merge_request":
        attrs = data["object_attributes"]
        action = str(attrs.get("action", ""))
        return Event(
            "pull_request",
            branch=str(attrs["source_branch"]),
            commit=str(attrs["last_commit"]["id"]),
            number=int(attrs["iid"]),
            action=_GITLAB_ACTIONS.get(
                action, "closed" if action in ("close", "merge") else action
            ),
        )
    return Event("ignored", reason=f"a {name or kind or 'unnamed'} event")
