"""The state store on PostgreSQL (MOORAGE_DATABASE_URL), migrated by Alembic."""

from __future__ import annotations

import psycopg
import pytest

from moorage.server.platform import prepare_store
from moorage.server.services import apps, auth, config, releases
from moorage.settings import Settings
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration


def test_store_migrates_and_works_on_postgresql(platform: LivePlatform) -> None:
    sockets = platform.data / "postgres" / "run"
    port = platform.env["MOORAGE_POSTGRES_PORT"]
    admin = dict(host=str(sockets), port=port, user="postgres", autocommit=True)
    with psycopg.connect(dbname="postgres", **admin) as conn:  # type: ignore[arg-type]
        conn.execute("DROP DATABASE IF EXISTS moorage_state_test")
        conn.execute("CREATE DATABASE moorage_state_test")
    try:
        url = f"postgresql+psycopg://postgres@/moorage_state_test?host={sockets}&port={port}"
        settings = Settings.from_env(
            {"MOORAGE_DATA_DIR": str(platform.data), "MOORAGE_DATABASE_URL": url}
        )
        store = prepare_store(settings)
        prepare_store(settings)  # a second upgrade is a no-op
        with store.session() as s:
            user = auth.ensure_user(s, "pg@example.test")
            app = apps.create(s, user, "on-postgres")
            config.update(s, app, user, {"A": "1"})
        with store.session() as s:
            app = apps.get(s, user, "on-postgres")
            assert [r.config for r in releases.list_for(s, app)] == [{"A": "1"}]
        store.engine.dispose()
    finally:
        with psycopg.connect(dbname="postgres", **admin) as conn:  # type: ignore[arg-type]
            conn.execute("DROP DATABASE IF EXISTS moorage_state_test WITH (FORCE)")
