from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moorage.registry.tokens import TokenIssuer, ensure_signing_key
from moorage.server.app import create_app
from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform, open_logs, prepare_store
from moorage.server.services import auth
from moorage.server.sessions.dynos import DynoSessions
from moorage.settings import Settings
from tests.unit.fakes import FakeRegistry, FakeRouter, FakeRuntime


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"MOORAGE_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Platform:
    store = prepare_store(settings)
    ensure_signing_key(tmp_path / "k.pem", tmp_path / "c.pem")
    p = Platform(
        settings, store, TokenIssuer(tmp_path / "k.pem"), FakeRegistry(), {}, open_logs(settings)
    )  # type: ignore[arg-type]
    return p


@pytest.fixture
def reconciler(platform: Platform) -> Reconciler:
    r = Reconciler(
        platform.store, FakeRuntime(), FakeRouter(), platform.settings, emit=platform.emit
    )
    r.settle_seconds = 0
    # the sessions component beside it, over the same fakes, as `moor server` wires them
    platform.sessions = DynoSessions(
        r.runtime, r.router, platform.settings, platform.emit, r.finish_oneoff
    )
    return r


def make_token(platform: Platform, email: str) -> str:
    with platform.store.session() as s:
        return auth.create_token(s, auth.ensure_user(s, email))


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    token = make_token(platform, "alice@example.test")
    with TestClient(create_app(platform), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
