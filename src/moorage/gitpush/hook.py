"""The pre-receive hook of the apps' repositories (``python -m moorage.gitpush.hook``).

git runs it with the pushed ``<old> <new> <ref>`` lines on standard input, inside the
environment ``git http-backend`` was started with by the API (``routes/git.py``): the app
(``MOORAGE_APP``), the loopback API (``MOORAGE_API``) and the pusher's token
(``MOORAGE_PUSH_TOKEN``, never written anywhere). A push of the deploy branch sends
``git archive`` of the new commit to ``POST /apps/{app}/builds`` and prints the build's
output (git shows it as ``remote:`` lines); it exits non-zero, refusing the push, when the
build or the release fails or is cancelled (``builds:cancel``, or a newer push of the app).
A push of any other ref is refused whole (nothing of it is stored): the deploy branches are
``MOORAGE_DEPLOY_BRANCHES`` (default ``main,master``), passed by the API. When the app's
pipeline builds review apps from this repository (``MOORAGE_REVIEW_APPS=1``), other branches
are taken instead: a pushed one builds its review app (``POST /apps/{app}/review-builds``), a
deleted one removes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import IO
from urllib.parse import quote

import httpx

from moorage.spec.gitpush import (
    RefUpdate,
    deploy_update,
    parse_branches,
    parse_ref_updates,
    refused_updates,
)

TIMEOUT = httpx.Timeout(30.0, read=3600.0)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    app, api = os.environ.get("MOORAGE_APP", ""), os.environ.get("MOORAGE_API", "")
    token = os.environ.pop("MOORAGE_PUSH_TOKEN", "")
    if not (app and api and token):
        say("This repository takes pushes only through the platform's git endpoint.")
        return 1
    branches = parse_branches(os.environ.get("MOORAGE_DEPLOY_BRANCHES", ""))
    review = os.environ.get("MOORAGE_REVIEW_APPS") == "1"
    updates = parse_ref_updates(sys.stdin.read())
    refused = refused_updates(updates, branches)
    if review:  # other branches are review apps; tags and other refs are still refused
        refused = [u for u in refused if not u.ref.startswith("refs/heads/")]
    if refused:
        names = " or ".join(branches)
        for u in refused:
            say(f"Push refused: {u.ref} is not a deploy branch; this platform deploys {names}.")
        say(
            f"Nothing was stored or released. Push to {names}: git push <remote> HEAD:{branches[0]}"
        )
        return 1
    client = httpx.Client(
        base_url=f"{api}/apps/",
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        trust_env=False,
    )
    with client:
        failed = 0
        chosen = deploy_update(updates, branches)
        if chosen is not None:
            say(f"Building {app} from {_branch(chosen)} ({chosen.new[:10]})")
            failed |= _archived(chosen.new, lambda tar: _build(client, app, chosen.new, tar))
        deploy_refs = {f"refs/heads/{b}" for b in branches}
        for u in updates if review else []:
            if u.ref in deploy_refs or not u.ref.startswith("refs/heads/"):
                continue
            failed |= _review(client, app, u)
        return failed


def _branch(u: RefUpdate) -> str:
    return u.ref.removeprefix("refs/heads/")


def _archived(commit: str, then: Callable[[IO[bytes]], int]) -> int:
    """``then`` of a ``git archive`` of ``commit``."""
    with tempfile.TemporaryFile() as tar:
        made = subprocess.run(
            ["git", "archive", "--format=tar", commit], stdout=tar, stderr=subprocess.PIPE
        )
        if made.returncode != 0:
            say(f"git archive failed: {made.stderr.decode(errors='replace').strip()}")
            return 1
        tar.seek(0)
        return then(tar)


def _build(c: httpx.Client, app: str, version: str, tar: IO[bytes]) -> int:
    resp = c.post(
        f"{quote(app, safe='')}/builds",
        params={"version": version},
        content=_chunks(tar),
        headers={"Content-Type": "application/x-tar"},
    )
    if resp.status_code != 201:
        say(f"The platform refused the build: {_message(resp)}")
        return 1
    return _follow(c, app, resp.json()["id"])


def _follow(c: httpx.Client, app: str, build_id: str) -> int:
    """Print the build's output as it comes; 1 when it did not succeed."""
    base = f"{quote(app, safe='')}/builds/{build_id}"
    with c.stream("GET", f"{base}/output") as out:
        for line in out.iter_lines():
            say(line)
    status = c.get(base).json()
    if status.get("status") != "succeeded":
        say(_rejection(str(status.get("message") or "")))
        return 1
    return 0


def _review(c: httpx.Client, app: str, u: RefUpdate) -> int:
    """A pushed branch builds its review app; a deleted one removes it."""
    branch = _branch(u)
    if u.deleted:
        resp = c.delete(f"{quote(app, safe='')}/review-apps/{quote(branch, safe='/')}")
        if resp.status_code == 404:
            return 0  # a branch that never had a review app
        if resp.status_code != 200:
            say(f"The review app of {branch} was not removed: {_message(resp)}")
            return 1
        say(f"Destroyed review app {resp.json()['app']['name']} (branch {branch} deleted).")
        return 0
    say(f"Building the review app of {branch} ({u.new[:10]})")

    def post(tar: IO[bytes]) -> int:
        resp = c.post(
            f"{quote(app, safe='')}/review-builds",
            params={"branch": branch, "version": u.new},
            content=_chunks(tar),
            headers={"Content-Type": "application/x-tar"},
        )
        if resp.status_code != 201:
            say(f"The platform refused the review app: {_message(resp)}")
            return 1
        made = resp.json()
        failed = _follow(c, made["app"]["name"], made["build"])
        if not failed:
            say(f"Review app {made['app']['name']} deployed to {made['web_url']}")
        return failed

    return _archived(u.new, post)


def _rejection(message: str) -> str:
    """The push's last line when its build did not succeed."""
    if message.startswith("Build cancelled"):
        said = message.rstrip(".")
        return f"Push rejected: {said[:1].lower()}{said[1:]}. Nothing was released."
    return "Push rejected: the build or its release failed (see above); the branch is unchanged."


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(1 << 16):
        yield chunk


def _message(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("message") or resp.text)
    except ValueError:
        return f"HTTP {resp.status_code}"


if __name__ == "__main__":
    sys.exit(main())
