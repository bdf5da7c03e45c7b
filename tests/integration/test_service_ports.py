"""A Service port that differs from the container port (issue 18 item 1): the group calls
``counter:80``, the process listens on 8080; nothing outside the group reaches it."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration

HITS = Path(__file__).resolve().parents[1] / "fixtures" / "standins" / "hits"
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: counter}
spec:
  selector: {matchLabels: {app: counter}}
  template:
    metadata: {labels: {app: counter}}
    spec:
      containers:
      - name: counter
        image: ghcr.io/acme/hits:1
        env: [{name: DATA, value: /tmp}]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: counter}
spec:
  selector: {app: counter}
  ports: [{port: 80, targetPort: 8080}]
"""


def _fetch(network: str, url: str) -> str:
    """What a container on ``network`` gets from ``url`` (its error when nothing answers)."""
    code = (
        "import urllib.request,sys\n"
        "try: print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
        "except Exception as e: print('failed:', e)\n"
    )
    try:
        out = docker.from_env().containers.run(
            "python:3", ["python3", "-c", code, url], network=network, remove=True
        )
    except docker.errors.NotFound as exc:  # the group's network is made with its first dyno
        return f"failed: {exc}"
    return out.decode() if isinstance(out, bytes) else str(out)


def test_the_group_calls_the_service_port(
    platform: LivePlatform, standin: StandIn, tmp_path: Path
) -> None:
    standin.build("ghcr.io/acme/hits:1", HITS)
    (tmp_path / "counter.yaml").write_text(MANIFEST)
    group = f"pm{time.time_ns() % 10**6}"
    out = platform.moor("k8s:import", str(tmp_path), "--group", group).stdout
    assert "create private app counter" in out, out
    try:
        instance = platform.env["MOORAGE_INSTANCE"]
        network = f"moorage-{instance}-g-{group}"
        deadline, got = time.monotonic() + 120, ""
        while "hits=" not in got and time.monotonic() < deadline:
            got = _fetch(network, "http://counter:80/")
            time.sleep(1)
        assert "hits=" in got, got
        assert "hits=" in _fetch(network, "http://counter:8080/")  # its own port still answers
        info = platform.moor("apps:info", "-a", "counter").stdout
        assert "80 -> 8080" in info, info
        platform.moor("ps:restart", "-a", "counter")  # a new namespace: mapped again
        deadline, got = time.monotonic() + 120, ""
        while "hits=" not in got and time.monotonic() < deadline:
            got = _fetch(network, "http://counter:80/")
            time.sleep(1)
        assert "hits=" in got, got
        assert platform.get("counter").status_code == 404  # private: not on the router
        assert "failed" in _fetch("bridge", "http://counter:80/")  # outside the group
    finally:
        platform.moor("apps:destroy", "-a", "counter", "--confirm", "counter", check=False)
