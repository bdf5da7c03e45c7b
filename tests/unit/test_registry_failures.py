"""Why a push failed: out-of-space uploads read from the registry's log."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from moorage.registry.failures import PushFailure, RegistryLog, disk_full_failures
from moorage.server.platform import Platform

FULL = (
    'time="2026-12-06T04:15:32.753904277Z" level=error msg="response completed with error" '
    'err.code=unknown err.detail="write /var/lib/moorage/registry/data/docker/registry/v2/'
    'repositories/shop/web/_uploads/x/data: no space left on device" '
    'http.request.method=PATCH http.request.uri="/v2/shop/web/blobs/uploads/x" '
    "vars.name=shop/web vars.uuid=x"
)
URI_ONLY = (
    'time="2026-12-06T04:15:40Z" level=error msg="unknown error reading request payload: '
    'write data: no space left on device" http.request.uri="/v2/shop/worker/blobs/uploads/y"'
)


def test_out_of_space_lines_name_their_repository_and_time() -> None:
    lines = [FULL, URI_ONLY, 'level=info msg="response completed" vars.name=shop/web']
    found = disk_full_failures(lines, now=5.0)
    assert [f.repository for f in found] == ["shop/web", "shop/worker"]
    assert [round(f.at, 3) for f in found] == [1796530532.754, 1796530540.0]
    assert disk_full_failures(["no space left on device, no repository"], 5.0) == []


def test_the_log_is_read_from_its_end_then_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "registry.log"
    path.write_text(FULL + "\n")  # before the platform started: not a failure of now
    seen: list[PushFailure] = []
    reader = RegistryLog(path, seen.append)
    assert reader.scan() == []
    with path.open("a") as fh:
        fh.write(FULL + "\n" + URI_ONLY[:40])  # the last line is still being written
    assert [f.repository for f in reader.scan()] == ["shop/web"]
    with path.open("a") as fh:
        fh.write(URI_ONLY[40:] + "\n")
    assert [f.repository for f in reader.scan()] == ["shop/worker"]
    assert [f.repository for f in seen] == ["shop/web", "shop/worker"]
    assert reader.recent("shop", within=1e9) != [] and reader.recent("other", 1e9) == []
    reader.forget("shop")
    assert reader.recent("shop", within=1e9) == []
    path.write_text("")  # rotated
    assert reader.scan() == []


def test_push_failures_are_told_only_to_those_with_access(
    api: TestClient, platform: Platform, tmp_path: Path
) -> None:
    api.post("/apps", json={"name": "shop"})
    log = tmp_path / "registry.log"
    log.write_text("")
    platform.push_failures = RegistryLog(log, lambda f: None)
    log.write_text(FULL.replace('time="2026-12-06T04:15:32.753904277Z" ', "") + "\n")
    answer = api.get("/apps/shop/moorage/push-failures", params={"within": 60})
    assert answer.status_code == 200, answer.text
    [failure] = answer.json()
    assert failure["process_type"] == "web" and failure["age"] < 60
    assert "The registry's disk is full" in failure["message"]
    assert "/var/lib" not in failure["message"]  # no server paths for tenants
    assert api.get("/apps/nope/moorage/push-failures").status_code == 404
