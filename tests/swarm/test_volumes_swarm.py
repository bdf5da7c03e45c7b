"""Volumes on the swarm runtime (issue 18 item 5): a dyno with a volume is pinned to the node
that holds it, keeps its files across restarts there, and `nodes:drain` of that node names
the volume that keeps the dyno from moving."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_volumes import _hits
from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration

HITS = Path(__file__).resolve().parents[1] / "fixtures" / "standins" / "hits"


def _node(platform: LivePlatform, app: str, timeout: float = 180) -> str:
    """The node of the app's one dyno once it runs on one: right after a restart the old
    dyno may still answer while the new one waits to be placed (no node yet)."""
    deadline = time.monotonic() + timeout
    dynos: list[Any] = []
    while time.monotonic() < deadline:
        dynos = platform.json("ps", "-a", app)
        if len(dynos) == 1 and dynos[0].get("state") == "up" and dynos[0].get("node"):
            return str(dynos[0]["node"])
        time.sleep(1)
    raise AssertionError(f"no running dyno on a node: {dynos}")


def test_a_volume_pins_its_dyno_to_its_node(platform: LivePlatform, standin: StandIn) -> None:
    if platform.swarm is None:
        pytest.skip("the swarm runtime only")
    standin.build("ghcr.io/acme/hits:1", HITS)
    app = platform.create_app("svol")
    platform.moor("container:release", "web", "--image", "ghcr.io/acme/hits:1", "-a", app)
    platform.moor("volumes:create", "data", "-a", app)
    platform.moor("volumes:mount", "data", "/data", "--type", "web", "-a", app)
    count = _hits(platform, app, 0, timeout=180)
    node = _node(platform, app)
    platform.moor("ps:restart", "-a", app)
    count = _hits(platform, app, count, timeout=180)
    assert _node(platform, app) == node  # the volume's node
    drained = platform.moor("nodes:drain", node)
    try:
        assert f"{app}/data (web.1)" in drained.stdout, drained.stdout
    finally:
        platform.moor("nodes:activate", node)
    count = _hits(platform, app, count, timeout=180)  # back on its node, with its files
    assert _node(platform, app) == node
    platform.moor("apps:destroy", "-a", app, "--confirm", app)
