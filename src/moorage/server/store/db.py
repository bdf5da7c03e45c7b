"""Engine and sessions for the state store; the schema is brought to head by Alembic."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Text, cast, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from moorage.server.store.sealed import PREFIX, attach, sealer

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # freed pages hold no old secret
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(url: str) -> None:
    """Run Alembic migrations up to head."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


class Store:
    """Holds the session factory; ``with store.session() as s:`` commits or rolls back."""

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        """``secret`` (``<data>/secret.key``) opens the sealed columns; without it, reading
        or writing one raises ComponentFailed."""
        self.url = url
        self.engine = make_engine(url)
        if secret is not None:
            attach(self.engine.dialect, sealer(secret))
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def seal_existing(self, columns: Sequence[tuple[type[DeclarativeBase], str]]) -> int:
        """Rewrite the rows whose sealed ``columns`` still hold plain values (an install
        from before sealing); the number of values sealed."""
        sealed = 0
        with self.session() as s:
            for model, attr in columns:
                column = model.__table__.c[attr]
                key = model.__table__.c["id"]
                raw = s.execute(select(key, cast(column, Text)).where(column.is_not(None)))
                plain = [k for k, text in raw if not str(text).lstrip('"').startswith(PREFIX)]
                for row in s.scalars(select(model).where(key.in_(plain))):
                    flag_modified(row, attr)
                    sealed += 1
        if sealed and self.url.startswith("sqlite"):  # no plain copy left in free pages
            with self.engine.connect() as conn:
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sealed

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._factory() as s, s.begin():
            yield s
