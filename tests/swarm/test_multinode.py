"""The swarm runtime across several engines: placement, drain under load, a lost node.

Runs in the swarm pass of ./bin/test (``MOORAGE_TEST_RUNTIME=swarm``, 3 nodes). Figures go
to ``artifacts/reliability/`` like the fault tests', and docs/scaling.md quotes them.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from tests.faults import record, wait_for_traffic, wrk_command, wrk_summary
from tests.livefixtures import LivePlatform

COMMAND = "MOORAGE_TEST_RUNTIME=swarm .venv/bin/pytest tests/swarm"


@pytest.fixture(scope="module")
def cluster(platform: LivePlatform) -> Any:
    if platform.swarm is None or len(platform.swarm.nodes) < 3:
        pytest.fail("tests/swarm need a swarm of 3 nodes: MOORAGE_TEST_RUNTIME=swarm ./bin/test")
    return platform.swarm


def web_dynos(platform: LivePlatform, app: str) -> list[dict[str, Any]]:
    return [d for d in platform.json("ps", "-a", app) if d["type"] == "web"]


def wait_web_up(platform: LivePlatform, app: str, count: int, avoid: set[str]) -> float:
    """Seconds until ``count`` web dynos are up and served, none on a node in ``avoid``."""
    started = time.monotonic()
    while True:
        dynos = web_dynos(platform, app)
        up = [d for d in dynos if d["state"] == "up" and d.get("node") not in avoid]
        if len(up) == count and len(dynos) == count:
            return time.monotonic() - started
        assert time.monotonic() - started < 180, dynos
        time.sleep(0.5)


def wrk(platform: LivePlatform, app: str, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        wrk_command(platform, app, seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_nodes_lists_the_swarm_and_add_prints_a_join_command(
    platform: LivePlatform, cluster: Any
) -> None:
    nodes = platform.json("nodes")
    assert sorted(n["hostname"] for n in nodes) == sorted(n.hostname for n in cluster.nodes)
    assert all(n["state"] == "ready" and n["availability"] == "active" for n in nodes)
    assert [n["role"] for n in nodes if n["this"]] == ["manager"]
    token = cluster.manager.engine().swarm.attrs["JoinTokens"]["Worker"]
    out = platform.moor("nodes:add").stdout
    assert f"docker swarm join --token {token} {cluster.manager.ip}:2377" in out
    bad = platform.moor("nodes:drain", "no-such-node", check=False)
    assert bad.returncode != 0 and "No node no-such-node" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_web3_spreads_drains_under_load_and_survives_a_lost_node(
    platform: LivePlatform, actors: str, cluster: Any
) -> None:
    app = actors
    platform.moor("ps:scale", "web=3", "-a", app)
    wait_web_up(platform, app, 3, set())
    placed = {d["node"] for d in web_dynos(platform, app)}
    assert len(placed) == 3, web_dynos(platform, app)  # one per node while nodes are free
    platform.wait_for(app, "Daniel Day-Lewis")  # read from the app's database on this host

    # drain a worker that runs a dyno, with wrk through the router the whole time
    workers = {d["node"] for d in web_dynos(platform, app)} - {cluster.manager.hostname}
    victim = sorted(workers)[0]
    load = wrk(platform, app, 40)
    wait_for_traffic(platform, app)
    platform.moor("nodes:drain", victim)
    moved = wait_web_up(platform, app, 3, {victim})
    out, _ = load.communicate(timeout=120)
    seen = wrk_summary(out)
    record(
        "Swarm: drain a node under load",
        tried=f"{seen['requests']} requests during the drain of a node with a web dyno (web=3)",
        failures=seen["socket_errors"] + seen["non_2xx"],
        recovery=f"3 web dynos up elsewhere {moved:.1f} s after nodes:drain",
        command=COMMAND,
    )
    assert seen["socket_errors"] == 0 and seen["non_2xx"] == 0, out

    # lose another node's engine altogether (its dynos die with it)
    others = [n for n in cluster.nodes[1:] if n.hostname != victim]
    lost = others[0]
    platform.moor("ps:scale", "web=3", "-a", app)
    platform.moor("nodes:activate", victim)
    cluster.kill_engine(lost)
    back = wait_web_up(platform, app, 3, {lost.hostname})
    platform.wait_for(app, "Daniel Day-Lewis")
    down = {n["hostname"]: n["state"] for n in platform.json("nodes")}
    assert down[lost.hostname] == "down"
    record(
        "Swarm: a node's engine killed",
        tried="SIGKILL of a node (its engine and dynos) with web=3 across 3 nodes",
        failures=0,
        recovery=f"3 web dynos up on the other nodes {back:.1f} s after the kill",
        command=COMMAND,
    )
    releases = platform.json("releases", "-a", app)
    assert all(r["status"] == "succeeded" for r in releases), releases
    platform.moor("nodes:remove", lost.hostname)
    assert lost.hostname not in {n["hostname"] for n in platform.json("nodes")}
