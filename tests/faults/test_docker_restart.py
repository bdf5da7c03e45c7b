"""Docker Engine restarted under a running platform: every formation comes back.

How long that took after the daemon answered again is recorded for docs/reliability.md.

The daemon is restarted the way it was started: ``systemctl restart docker`` under systemd,
otherwise SIGTERM to its PID (from ``/var/run/docker.pid``) and the same command line again
in its own session (as ``bin/lib.sh`` starts it). Dynos run with Docker's ``always`` restart
policy; the reconciler probes them again and routes their new addresses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.faults import record
from tests.livefixtures import LivePlatform

pytestmark = [pytest.mark.integration, pytest.mark.alone]
PIDFILE = Path("/var/run/docker.pid")
TINY = Path(__file__).parents[1] / "integration" / "apps" / "tiny"


def _docker_answers() -> bool:
    try:
        return bool(docker.from_env(timeout=5).ping())
    except docker.errors.DockerException:
        return False


def _restart_docker() -> None:
    systemd = Path("/run/systemd/system").is_dir() and (
        subprocess.run(["systemctl", "is-active", "--quiet", "docker"], check=False).returncode == 0
    )
    if systemd:
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=180)
        return
    pid = int(PIDFILE.read_text().strip())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert argv and argv[0].endswith(b"dockerd"), argv
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while Path(f"/proc/{pid}").exists():
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        assert time.monotonic() < deadline, "dockerd did not stop within 120 s"
        time.sleep(0.2)
    with open("/var/log/moorage-dockerd.log", "ab") as log:
        subprocess.Popen(
            [a.decode() for a in argv],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _back(platform: LivePlatform, token: str, apps: dict[str, int], text: dict[str, str]) -> bool:
    """Every app runs its web dynos, up, and serves its text; an error answer (the API
    while Docker is still coming back) counts as not back yet."""
    for app, quantity in apps.items():
        resp = httpx.get(
            f"{platform.api}/apps/{app}/dynos",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        dynos = resp.json() if resp.is_success else None
        if not isinstance(dynos, list):
            return False
        up = [
            d
            for d in dynos
            if isinstance(d, dict) and d.get("type") == "web" and d.get("state") == "up"
        ]
        if len(up) != quantity or text[app] not in platform.get(app).text:
            return False
    return True


def test_formations_are_back_after_a_docker_restart(platform: LivePlatform, actors: str) -> None:
    token = platform.moor("auth:token").stdout.strip()
    tiny = platform.create_app("dockerd")
    platform.moor("container:push", "web", "-a", tiny, cwd=TINY)
    platform.moor("container:release", "web", "-a", tiny, cwd=TINY)
    platform.moor("ps:scale", "web=2", "-a", tiny)
    apps, text = {actors: 1, tiny: 2}, {actors: "Meryl Streep", tiny: "tiny v1"}
    deadline = time.monotonic() + 60
    while not _back(platform, token, apps, text):
        assert time.monotonic() < deadline, "the apps did not come up before the restart"
        time.sleep(0.5)

    _restart_docker()
    deadline = time.monotonic() + 120
    while not _docker_answers():
        assert time.monotonic() < deadline, "dockerd did not answer within 120 s"
        time.sleep(0.2)
    answering = time.monotonic()
    while True:
        try:
            if _back(platform, token, apps, text):
                break
        except (httpx.HTTPError, ValueError):
            pass
        assert time.monotonic() - answering < 180, "formations not back within 180 s"
        time.sleep(0.2)
    seconds = time.monotonic() - answering
    record(
        "Docker Engine restarted",
        tried="1 restart with 2 apps (3 web dynos) running",
        failures=0,
        recovery=f"every formation serving {seconds:.1f} s after the daemon answered again",
        command="pytest tests/faults/test_docker_restart.py",
    )
    platform.moor("ps:scale", "web=0", "-a", tiny)
