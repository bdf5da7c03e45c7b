"""Prebuilt images on the swarm runtime (issue 17): the article's Kubernetes app, imported
with its image from the (stood-in) Docker Hub and no push, served by a dyno on a node."""

from __future__ import annotations

import time

import pytest

from tests.livefixtures import ACTORS, LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration


def test_the_articles_image_is_imported_and_served_on_the_swarm(
    platform: LivePlatform, standin: StandIn
) -> None:
    standin.build("myorg/myapp:0.0.1", ACTORS)
    app = f"swarm-actors-{time.time_ns() % 100000}"
    platform.apps.add(app)
    imported = platform.moor("k8s:import", "spec", "chart", "-a", app, cwd=ACTORS)
    assert "release web from docker.io/myorg/myapp:0.0.1" in imported.stdout
    page = platform.wait_for(app, "Meryl Streep", timeout=180)
    assert "Hello from Kubernetes" in page.text
    assert platform.dyno_container(app, "web.1").image is not None
