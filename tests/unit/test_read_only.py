"""MOORAGE_DYNO_READ_ONLY: Settings -> the reconciler's specs -> the container's arguments."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moorage.runtime.docker import DockerRuntime
from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform
from moorage.settings import Settings
from moorage.spec.dyno import DynoSpec, OneOffSpec
from tests.unit.fakes import FakeRuntime
from tests.unit.test_reconciler import _release, settle


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"MOORAGE_DATA_DIR": str(tmp_path / "data"), "MOORAGE_DYNO_READ_ONLY": "1"}
    )


def _spec(**kw: object) -> DynoSpec:
    return DynoSpec(app="demo", type="web", number=1, release=2, image="i", env={}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("on", True), ("", False), ("0", False), ("no", False)],
)
def test_the_setting_reads_booleans(tmp_path: Path, value: str, expected: bool) -> None:
    env = {"MOORAGE_DATA_DIR": str(tmp_path), "MOORAGE_DYNO_READ_ONLY": value}
    assert Settings.from_env(env).dyno_read_only is expected
    assert Settings.from_env({"MOORAGE_DATA_DIR": str(tmp_path)}).dyno_read_only is False


def test_a_bad_value_is_refused_with_the_variable_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MOORAGE_DYNO_READ_ONLY='maybe'"):
        Settings.from_env({"MOORAGE_DATA_DIR": str(tmp_path), "MOORAGE_DYNO_READ_ONLY": "maybe"})


def test_formation_release_phase_and_one_off_specs_carry_read_only(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    api.post("/apps", json={"name": "demo"})
    _release(api, platform, "demo", 1)
    want = reconciler.desired()
    assert [s.read_only for s in want.specs.values()] == [True]
    settle(reconciler)
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    assert runtime.dynos["demo.web.1"].fingerprint == want.specs["demo.web.1"].fingerprint()
    oneoff = OneOffSpec(
        app="demo", type="run", number=1, release=2, image="i", env={}, command=["true"]
    )
    assert platform.sessions is not None
    platform.sessions.start_oneoff(oneoff)
    assert runtime.oneoffs[-1].read_only is True
    platform.reconciler = reconciler  # the API's run.N goes through it too
    resp = api.post("/apps/demo/dynos", json={"command": "echo hi", "attach": False})
    assert resp.status_code in (200, 201), resp.text
    assert runtime.oneoffs[-1].command == ["echo", "hi"] and runtime.oneoffs[-1].read_only


def test_off_by_default_and_the_fingerprint_is_unchanged_then() -> None:
    """Upgrading to a version that knows the option replaces no running dyno (the digest of
    a writable dyno is the one the previous version computed); turning it on does, as it
    must: only a new container gets a read-only root."""
    off = _spec()
    before_the_option = {
        "image": "i",
        "env": {},
        "command": None,
        "port": None,
        "memory": 512,
        "cpus": 0.5,
        "generation": 0,
        "pids": 256,
        "hosts": {},
        "release": 2,
    }
    raw = json.dumps(before_the_option, sort_keys=True).encode()
    assert off.read_only is False
    assert off.fingerprint() == hashlib.sha256(raw).hexdigest()[:16]
    assert _spec(read_only=True).fingerprint() != off.fingerprint()


def test_docker_arguments_make_the_root_read_only_with_a_tmpfs() -> None:
    on = DockerRuntime._limits(512, 0.5, 256, read_only=True)
    assert on["read_only"] is True and on["tmpfs"] == {"/tmp": "size=64m"}
    assert on["cap_drop"] == ["ALL"] and on["pids_limit"] == 256
    off = DockerRuntime._limits(512, 0.5, 256)
    assert "read_only" not in off and "tmpfs" not in off
