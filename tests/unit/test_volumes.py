"""Volumes at the API and in the reconciler (issue 18 item 5), on the fakes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moorage.errors import InvalidParams
from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform
from moorage.server.services.volumes import check_path, parse_size
from tests.unit.fakes import FakeRuntime
from tests.unit.test_reconciler import _deployed, settle


@pytest.mark.parametrize(
    ("text", "mb"), [("1GB", 1024), ("500MB", 500), ("2Gi", 2048), ("3", 3072), ("1.5g", 1536)]
)
def test_sizes(text: str, mb: int) -> None:
    assert parse_size(text) == mb


@pytest.mark.parametrize("text", ["", "lots", "0MB", "2TB", "-1GB", "1 PB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(InvalidParams):
        parse_size(text)


def test_paths() -> None:
    assert check_path("/var/lib/postgresql/data/") == "/var/lib/postgresql/data"
    assert check_path("/usr/share/nginx/html") == "/usr/share/nginx/html"
    for bad in ["data", "/", "/etc", "/proc/self", "/dev", "/a/../etc", "/tmp"]:
        with pytest.raises(InvalidParams):
            check_path(bad)


def test_a_type_with_a_volume_runs_one_dyno_and_stops_before_its_replacement(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime: FakeRuntime = _deployed(api, platform, reconciler)
    created = api.post("/apps/demo/volumes", json={"name": "data", "size": "10MB"})
    assert created.status_code == 201 and created.json()["size_mb"] == 10
    old = runtime.dynos["demo.web.1"]
    runtime.events.clear()
    mounted = api.patch("/apps/demo/volumes/data", json={"process_type": "web", "path": "/data"})
    assert mounted.status_code == 200, mounted.text
    settle(reconciler)
    new = runtime.dynos["demo.web.1"]
    assert runtime.events[:2] == [f"stop {old.id}", "start demo.web.1"]  # one writer at a time
    assert ("demo", "data") in runtime.held and new.id != old.id

    refused = api.patch("/apps/demo/formation/web", json={"quantity": 2})
    assert refused.status_code == 422 and "at most one dyno" in refused.json()["message"]
    listed = api.get("/apps/demo/volumes").json()
    assert [(v["name"], v["process_type"], v["path"]) for v in listed] == [("data", "web", "/data")]


def test_mounting_in_a_scaled_type_is_refused_and_destroy_needs_the_name(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    _deployed(api, platform, reconciler)
    assert api.patch("/apps/demo/formation/web", json={"quantity": 2}).status_code == 200
    api.post("/apps/demo/volumes", json={"name": "data"})
    refused = api.patch("/apps/demo/volumes/data", json={"process_type": "web", "path": "/d"})
    assert refused.status_code == 422 and "Scale web to 1" in refused.json()["message"]
    assert api.delete("/apps/demo/volumes/data").status_code == 422
    assert api.delete("/apps/demo/volumes/data?confirm=demo").status_code == 200
    assert api.get("/apps/demo/volumes").json() == []
    assert api.post("/apps/demo/volumes", json={"name": "x" * 31}).status_code == 422
