"""Catalog: the shop's product API, backed by PostgreSQL.

* ``GET /products``     -- JSON list of ``{"sku", "name", "price_cents"}``, ordered by name.
* ``GET /orders/count`` -- ``{"count": n}``: how many orders the worker has stored.
* ``GET /healthz``      -- ``ok``; does not touch the database.

Configuration (environment): ``POSTGRES_HOST`` (default ``postgres``), ``POSTGRES_PORT``
(5432), ``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_DB`` and ``PORT`` (8080, see
``gunicorn.conf.py``).

The ``products`` table is created and seeded by ``migrate.py``, which the Job
``catalog-migrate`` runs before a release (``k8s/45-catalog-migrate.yaml``).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import psycopg
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

logging.basicConfig(
    stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
)
log = logging.getLogger("catalog")

app = Flask(__name__)


def env_port(name: str, default: int) -> int:
    """A port from the environment; also accepts service-link values like ``tcp://ip:5432``."""
    value = os.getenv(name, "").strip()
    if not value:
        return default
    return int(value.rsplit(":", 1)[-1])


def connect() -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host=os.getenv("POSTGRES_HOST", "postgres"),
        port=env_port("POSTGRES_PORT", 5432),
        user=os.getenv("POSTGRES_USER", "postgres"),
        password=os.getenv("POSTGRES_PASSWORD", ""),
        dbname=os.getenv("POSTGRES_DB", "postgres"),
        connect_timeout=5,
        autocommit=True,
    )


def describe(exc: Exception) -> str:
    """First line of an error, with the password masked just in case."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    password = os.getenv("POSTGRES_PASSWORD")
    return text.replace(password, "***") if password else text


def unavailable(exc: psycopg.Error) -> ResponseReturnValue:
    log.warning("database error: %s", describe(exc))
    return jsonify(error="database unavailable"), 503


@app.get("/products")
def products() -> ResponseReturnValue:
    try:
        with connect() as conn:
            rows = conn.execute(
                "SELECT sku, name, price_cents FROM products ORDER BY name"
            ).fetchall()
    except psycopg.Error as exc:
        return unavailable(exc)
    return jsonify([{"sku": s, "name": n, "price_cents": p} for s, n, p in rows])


@app.get("/orders/count")
def orders_count() -> ResponseReturnValue:
    try:
        with connect() as conn:
            # The worker creates the table when it starts; until then there are no orders.
            exists = conn.execute("SELECT to_regclass('orders') IS NOT NULL").fetchone()
            count = 0
            if exists is not None and exists[0]:
                row = conn.execute("SELECT count(*) FROM orders").fetchone()
                count = int(row[0]) if row is not None else 0
    except psycopg.Error as exc:
        return unavailable(exc)
    return jsonify(count=count)


@app.get("/healthz")
def healthz() -> ResponseReturnValue:
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=env_port("PORT", 8080))
