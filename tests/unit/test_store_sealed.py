"""Config vars, add-on URLs and certificate keys are sealed at rest; older rows on upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from moorage.errors import ComponentFailed
from moorage.server.store.db import Store, upgrade
from moorage.server.store.models import SEALED, Addon, App, User


def _raw(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_secrets_are_sealed_and_plain_rows_of_an_older_install_are_sealed_at_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    store = Store(url, b"k" * 32)
    with store.session() as s:
        user = User(email="a@example.test")
        s.add(user)
        s.flush()
        app = App(name="shop", owner_id=user.id, config={"API_KEY": "sekrit-config-1"})
        s.add(app)
        s.flush()
        s.add(Addon(app_id=app.id, name="pg-1", service="postgresql", plan="mini",
                    resource="r", url="postgres://u:sekrit-password-2@h/db"))  # fmt: skip
    assert b"sekrit" not in _raw(db)
    with store.session() as s:
        assert s.query(App).one().config == {"API_KEY": "sekrit-config-1"}
        assert "sekrit-password-2" in s.query(Addon).one().url
    # an install from before sealing: plain JSON and text in the same columns
    with sqlite3.connect(db) as conn:
        conn.execute("""UPDATE apps SET config = '{"OLD": "sekrit-plain-3"}'""")
        conn.execute("UPDATE addons SET url = 'redis://:sekrit-plain-4@h'")
    assert b"sekrit-plain-3" in _raw(db)
    assert store.seal_existing(SEALED) == 2
    assert store.seal_existing(SEALED) == 0  # nothing left in plain text
    assert b"sekrit" not in _raw(db)
    with store.session() as s:
        assert s.query(App).one().config == {"OLD": "sekrit-plain-3"}
        assert s.query(Addon).one().url == "redis://:sekrit-plain-4@h"
    with pytest.raises(ComponentFailed, match=r"secret\.key"), Store(url).session() as s:
        s.query(App).one()
    with pytest.raises(ComponentFailed, match=r"secret\.key"), Store(url, b"x" * 32).session() as s:
        s.query(App).one()
