"""App groups: apps reach each other's web dynos on a private network by name."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.livefixtures import LivePlatform, in_pty

pytestmark = pytest.mark.integration

TINY = Path(__file__).parent / "apps" / "tiny"


def _tiny(platform: LivePlatform, prefix: str) -> str:
    app = platform.create_app(prefix)
    platform.moor("container:push", "web", "-a", app, cwd=TINY)
    platform.moor("container:release", "web", "-a", app, cwd=TINY)
    platform.wait_for(app, "tiny v1")
    return app


def _ids(platform: LivePlatform, app: str) -> set[str]:
    return {d["id"] for d in platform.json("ps", "-a", app)}


def _replaced(platform: LivePlatform, app: str, before: set[str]) -> None:
    """Wait until ``app``'s dynos are new ones and up (joining or leaving a group replaces
    them in the background, after the API has answered)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        dynos = platform.json("ps", "-a", app)
        if dynos and before.isdisjoint(d["id"] for d in dynos):
            if all(d["state"] == "up" for d in dynos):
                return
        time.sleep(0.5)
    raise AssertionError(f"{app}'s dynos were not replaced within 90 s: {dynos}")


def _fetch(platform: LivePlatform, app: str, url: str) -> tuple[int, str]:
    return in_pty(platform, "run", "-a", app, "--", "curl", "-sS", "--max-time", "5", url)


def test_group_members_reach_each_other_by_app_name_and_alias(platform: LivePlatform) -> None:
    backend = _tiny(platform, "backend")
    frontend = _tiny(platform, "frontend")
    outsider = _tiny(platform, "outsider")
    ids = {app: _ids(platform, app) for app in (backend, frontend)}
    group = f"shop{os.urandom(3).hex()}"  # its own: other tests import the shop group
    platform.moor("apps:join", group, "-a", backend, "--alias", "catalog")
    try:
        platform.moor("apps:join", group, "-a", frontend)
        info = platform.json("apps:info", "-a", backend)
        assert info["moorage"] == {
            "group": group,
            "aliases": ["catalog"],
            "internal_host": f"{backend}.internal",
            "origin": None,
        }
        for app, before in ids.items():
            _replaced(platform, app, before)
        for url in (f"http://{backend}.internal:8080/", "http://catalog:8080/"):
            code, output = _fetch(platform, frontend, url)
            assert code == 0 and "tiny v1" in output, output
        code, output = _fetch(platform, outsider, "http://catalog:8080/")
        assert code != 0 and "tiny v1" not in output
        clash = platform.moor("apps:join", group, "-a", outsider, "--alias", "catalog", check=False)
        assert clash.returncode == 5 and backend in clash.stderr
        bad = platform.moor("apps:join", "Shop!", "-a", outsider, check=False)
        assert bad.returncode == 2 and "DNS" in bad.stderr
        before = _ids(platform, backend)
        platform.moor("apps:leave", "-a", backend)
        _replaced(platform, backend, before)  # off the group network
        for _ in range(10):  # the old dyno drains for a few seconds after the switch
            code, output = _fetch(platform, frontend, "http://catalog:8080/")
            if code != 0:
                break
            time.sleep(2)
        assert code != 0 and "tiny v1" not in output
    finally:  # the group and its alias are free for the other tests (k8s:import of the shop)
        for app in (backend, frontend):
            platform.moor("apps:leave", "-a", app, check=False)
