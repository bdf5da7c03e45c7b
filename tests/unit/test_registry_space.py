"""The registry's disk: pushes refused when it is nearly full, abandoned uploads removed."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from moorage.registry.client import RegistryClient
from moorage.registry.tokens import TokenIssuer
from moorage.server.platform import Platform


def test_push_tokens_are_refused_with_the_reason_when_the_disk_is_full(
    api: TestClient, platform: Platform
) -> None:
    api.post("/apps", json={"name": "shop"})
    platform.registry.full = "The registry's disk is full: 3 MiB free."  # type: ignore[attr-defined]
    push = api.get("/registry/token", params={"scope": "repository:shop/web:pull,push"})
    assert push.status_code == 507
    assert push.json() == {
        "id": "storage_full",
        "message": "The registry's disk is full: 3 MiB free.",
    }
    pull = api.get("/registry/token", params={"scope": "repository:shop/web:pull"})
    assert pull.status_code == 200


def test_idle_uploads_are_purged_and_active_ones_kept(tmp_path: Path) -> None:
    client = RegistryClient("127.0.0.1:1", TokenIssuer.__new__(TokenIssuer), tmp_path)
    uploads = tmp_path / "docker/registry/v2/repositories/shop/web/_uploads"
    old, active = uploads / "old", uploads / "active"
    for upload in (old, active):
        (upload / "hashstates").mkdir(parents=True)
        (upload / "data").write_bytes(b"x" * 1000)
    os.utime(old / "data", (1000.0, 1000.0))
    os.utime(old / "hashstates", (1000.0, 1000.0))
    now = (active / "data").stat().st_mtime + 10
    assert client.purge_idle_uploads(300, now=now) == 1000
    assert not old.exists() and active.exists()
    free, total = client.space()
    assert 0 < free <= total
