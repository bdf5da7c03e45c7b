"""The pre-receive hook of the apps' repositories (``python -m moorage.gitpush.hook``).

git runs it with the pushed ``<old> <new> <ref>`` lines on standard input, inside the
environment ``git http-backend`` was started with by the API (``routes/git.py``): the app
(``MOORAGE_APP``), the loopback API (``MOORAGE_API``) and the pusher's token
(``MOORAGE_PUSH_TOKEN``, never written anywhere). A push of the deploy branch sends
``git archive`` of the new commit to ``POST /apps/{app}/builds`` and prints the build's
output (git shows it as ``remote:`` lines); it exits non-zero, refusing the push, when the
build or the release fails or is cancelled (``builds:cancel``, or a newer push of the app).
A push of any other ref is refused whole (nothing of it is stored): the deploy branches are
``MOORAGE_DEPLOY_BRANCHES`` (default ``main,master``), passed by the API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

import httpx

from moorage.spec.gitpush import deploy_update, parse_branches, parse_ref_updates, refused_updates

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
    updates = parse_ref_updates(sys.stdin.read())
    refused = refused_updates(updates, branches)
    if refused:
        names = " or ".join(branches)
        for u in refused:
            say(f"Push refused: {u.ref} is not a deploy branch; this platform deploys {names}.")
        say(
            f"Nothing was stored or released. Push to {names}: git push <remote> HEAD:{branches[0]}"
        )
        return 1
    chosen = deploy_update(updates, branches)
    if chosen is None:
        return 0
    say(f"Building {app} from {chosen.ref.removeprefix('refs/heads/')} ({chosen.new[:10]})")
    with tempfile.TemporaryFile() as tar:
        made = subprocess.run(
            ["git", "archive", "--format=tar", chosen.new], stdout=tar, stderr=subprocess.PIPE
        )
        if made.returncode != 0:
            say(f"git archive failed: {made.stderr.decode(errors='replace').strip()}")
            return 1
        tar.seek(0)
        return _build(api, app, token, chosen.new, tar)


def _build(api: str, app: str, token: str, version: str, tar: IO[bytes]) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    base = f"{api}/apps/{quote(app, safe='')}/builds"
    with httpx.Client(timeout=TIMEOUT, headers=headers, trust_env=False) as c:
        resp = c.post(
            base,
            params={"version": version},
            content=_chunks(tar),
            headers={"Content-Type": "application/x-tar"},
        )
        if resp.status_code != 201:
            say(f"The platform refused the build: {_message(resp)}")
            return 1
        build_id = resp.json()["id"]
        with c.stream("GET", f"{base}/{build_id}/output") as out:
            for line in out.iter_lines():
                say(line)
        status = c.get(f"{base}/{build_id}").json()
    if status.get("status") != "succeeded":
        say(_rejection(str(status.get("message") or "")))
        return 1
    return 0


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
