"""Corpus apps that no one here wrote, imported end to end from their unmodified manifests
(issue 18), their images stood in for on loopback (tests/fixtures/standins)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"
STANDINS = Path(__file__).resolve().parents[1] / "fixtures" / "standins"


def test_azure_voting_app_counts_a_vote(platform: LivePlatform, standin: StandIn) -> None:
    """The front reaches its Redis by host alone (REDIS=azure-vote-back), so the Redis stays
    a private process of the group; the front is public (its Service was a LoadBalancer)."""
    standin.build("mcr.microsoft.com/azuredocs/azure-vote-front:v1", STANDINS / "azure-vote-front")
    standin.redis("mcr.microsoft.com/oss/bitnami/redis:6.0.8")
    source = CORPUS / "azure-voting-app-redis"
    try:
        _votes(platform, platform.moor("k8s:import", str(source)).stdout, source)
    finally:  # the names are free again for the other tests of the corpus (dry runs)
        for app in ("azure-vote-front", "azure-vote-back"):
            platform.moor("apps:destroy", "-a", app, "--confirm", app, check=False)


def _votes(platform: LivePlatform, out: str, source: Path) -> None:
    assert "create private app azure-vote-back" in out and "create app azure-vote-front" in out
    front = f"http://127.0.0.1:{platform.router_port}/"
    host = {"Host": f"azure-vote-front.{platform.domain}"}
    page = platform.wait_for("azure-vote-front", "Cats - ", timeout=180)
    before = int(re.search(r"Cats - (\d+)", page.text)[1])  # type: ignore[index]
    voted = httpx.post(front, headers=host, data={"vote": "Cats"}, timeout=10)
    assert voted.status_code == 200 and f"Cats - {before + 1}" in voted.text, voted.text
    assert platform.get("azure-vote-back").status_code == 404  # private: not on the router
    again = platform.moor("k8s:import", str(source))
    assert "Nothing to change" in again.stdout
