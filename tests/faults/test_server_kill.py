"""``kill -9`` of ``moor server`` at random points of a release, 8 times (20 in the long
variant, ``MOORAGE_FAULT_ROUNDS=20``), under load.

Each round changes a config var (a release that replaces both web dynos), waits a random
0-4 s, kills the server with SIGKILL and starts it again. Afterwards the release must have
ended (succeeded, or failed with the old release serving), exactly the formation's dynos
must run, all of one release, with unique names and no leftover container; and wrk,
running through the router the whole time, must see no error and no non-2xx answer.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.faults import record, wrk_command, wrk_summary
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
TINY = Path(__file__).parents[1] / "integration" / "apps" / "tiny"
# 8 in ./bin/test; the 20 (or more) with MOORAGE_FAULT_ROUNDS=20
ROUNDS = int(os.environ.get("MOORAGE_FAULT_ROUNDS", "8"))
SEED = 20261126


def _api(platform: LivePlatform, token: str, method: str, path: str, **kw: Any) -> Any:
    resp = httpx.request(
        method,
        f"{platform.api}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        **kw,
    )
    resp.raise_for_status()
    return resp.json()


def _containers(platform: LivePlatform, app: str) -> list[Any]:
    labels = [f"moorage.instance={platform.env['MOORAGE_INSTANCE']}", f"moorage.app={app}"]
    return docker.from_env().containers.list(
        all=True, filters={"label": labels}, ignore_removed=True
    )


def _settled(platform: LivePlatform, token: str, app: str) -> tuple[bool, str]:
    """(consistent, why not): the newest release ended, and the current one's 2 web dynos
    are the only containers of the app, up, with unique names."""
    rels = _api(platform, token, "GET", f"/apps/{app}/releases")
    newest = max(rels, key=lambda r: r["version"])
    if newest["status"] == "pending":
        return False, f"v{newest['version']} still pending"
    current = max(r["version"] for r in rels if r["status"] == "succeeded")
    dynos = _api(platform, token, "GET", f"/apps/{app}/dynos")
    names = [d["name"] for d in dynos]
    if sorted(names) != ["web.1", "web.2"]:
        return False, f"dynos {names}"
    if {d["release"]["version"] for d in dynos} != {current} or any(
        d["state"] != "up" for d in dynos
    ):
        return False, f"dynos {[(d['name'], d['release'], d['state']) for d in dynos]}"
    running = [c for c in _containers(platform, app)]
    if len(running) != 2:
        return False, f"{len(running)} containers: {[c.name for c in running]}"
    return True, ""


def test_kill9_at_random_points_of_a_release(platform: LivePlatform) -> None:
    token = platform.moor("auth:token").stdout.strip()
    app = platform.create_app("kill9")
    platform.moor("container:push", "web", "-a", app, cwd=TINY)
    platform.moor("container:release", "web", "-a", app, cwd=TINY)
    platform.moor("ps:scale", "web=2", "-a", app)
    platform.wait_for(app, "tiny v1")
    deadline = time.monotonic() + 60
    while not _settled(platform, token, app)[0]:
        assert time.monotonic() < deadline, _settled(platform, token, app)[1]
        time.sleep(0.5)

    rng = random.Random(SEED)
    wrk = subprocess.Popen(
        wrk_command(platform, app, ROUNDS * 30),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    settle_times, outcomes = [], []
    try:
        for round_ in range(ROUNDS):
            _api(platform, token, "PATCH", f"/apps/{app}/config-vars", json={"ROUND": str(round_)})
            time.sleep(rng.uniform(0, 4))
            platform.kill_server()
            killed = time.monotonic()
            platform.start_server()
            while True:
                ok, why = _settled(platform, token, app)
                if ok:
                    break
                assert time.monotonic() - killed < 90, f"round {round_}: not settled: {why}"
                time.sleep(0.3)
            settle_times.append(time.monotonic() - killed)
            newest = max(
                _api(platform, token, "GET", f"/apps/{app}/releases"), key=lambda r: r["version"]
            )
            outcomes.append(newest["status"])
    finally:
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=30)
    summary = wrk_summary(out)
    record(
        "kill -9 of moor server during a release",
        tried=f"{ROUNDS} kills; {summary['requests']} requests through the router",
        failures=summary["socket_errors"] + summary["non_2xx"],
        recovery=f"settled in {max(settle_times):.1f} s at most "
        f"(median {sorted(settle_times)[len(settle_times) // 2]:.1f} s); "
        f"releases: {outcomes.count('succeeded')} succeeded, {outcomes.count('failed')} failed",
        command="pytest tests/faults/test_server_kill.py",
    )
    assert summary["socket_errors"] == 0 and summary["non_2xx"] == 0, out
    config = _api(platform, token, "GET", f"/apps/{app}/config-vars")
    assert config["ROUND"] == str(ROUNDS - 1)
