"""What the benchmarks share: the platform's API and registry, reached the way
``container:push`` / ``container:release`` reach them (credentials from ``moor login``)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import docker
import httpx

REPO = Path(__file__).resolve().parent.parent
MOOR = str(REPO / ".venv" / "bin" / "moor")


class Platform:
    """./bin/up's platform: its API, registry, router and Docker engine."""

    def __init__(self) -> None:
        self.token = subprocess.run(
            [MOOR, "auth:token"], capture_output=True, text=True, check=True
        ).stdout.strip()
        creds = subprocess.run([MOOR, "info"], capture_output=True, text=True, check=True).stdout
        pairs = [line.split() for line in creds.splitlines()]
        fields = {pair[0]: pair[1] for pair in pairs if len(pair) == 2}
        self.api = fields["api_url"]
        self.registry = fields["registry"]
        self.domain = fields["domain"]
        self.router = f"http://127.0.0.1:{fields['router_port']}"
        self.https_port = int(fields.get("https_port", "443"))
        self.http = httpx.Client(
            base_url=self.api,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.heroku+json; version=3",
            },
            timeout=120,
        )
        self.docker = docker.from_env(timeout=300)

    def deploy(self, app: str, image_id: str) -> float:
        started = time.monotonic()
        self.http.post("/apps", json={"name": app}).raise_for_status()
        repo = f"{self.registry}/{app}/web"
        self.docker.images.get(image_id).tag(repo, "latest")
        auth = {"username": "_", "password": self.token}
        for chunk in self.docker.api.push(
            repo, "latest", stream=True, decode=True, auth_config=auth
        ):
            if "error" in chunk:
                raise RuntimeError(f"push {repo}: {chunk['error']}")
        self.docker.images.remove(f"{repo}:latest", noprune=True)
        updates = [{"type": "web", "docker_image": image_id}]
        self.http.patch(f"/apps/{app}/formation", json={"updates": updates}).raise_for_status()
        deadline = time.monotonic() + 300
        with httpx.Client(timeout=5) as c:
            while time.monotonic() < deadline:
                try:
                    if (
                        c.get(self.router, headers={"Host": f"{app}.{self.domain}"}).status_code
                        == 200
                    ):
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{app} did not answer through the router within 300 s")

    def destroy(self, app: str) -> None:
        self.http.delete(f"/apps/{app}")

    def server_pid(self) -> int:
        data = Path(os.environ.get("MOORAGE_DATA_DIR", "/var/lib/moorage"))
        return int((data / "server.pid").read_text().split()[0])

    def metrics(self) -> tuple[dict[str, float], float]:
        started = time.monotonic()
        text = self.http.get("/metrics").text
        took = time.monotonic() - started
        out = {}
        for line in text.splitlines():
            if line.startswith(("moorage_reconcile_pass_seconds", "moorage_router_update_seconds")):
                name, value = line.split()
                out[name] = float(value)
        return out, took


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
