"""Order worker: moves queued orders from Redis into PostgreSQL.

Blocks on the Redis list ``orders`` (filled by the storefront with RPUSH), inserts each
order into the ``orders`` table and logs one line per order to stdout. An order that
cannot be stored is pushed back to the head of the list and retried after a pause, so a
database outage delays orders instead of losing them. Stops cleanly on SIGTERM/SIGINT.

Configuration (environment): ``REDIS_URL`` (wins when set), ``REDIS_HOST`` (default
``redis``), ``REDIS_PORT`` (6379), ``REDIS_PASSWORD`` (optional), ``POSTGRES_HOST``
(``postgres``), ``POSTGRES_PORT`` (5432), ``POSTGRES_USER``, ``POSTGRES_PASSWORD``,
``POSTGRES_DB``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, TypedDict

import psycopg
import redis

logging.basicConfig(
    stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s worker: %(message)s"
)
log = logging.getLogger("worker")

ORDERS_KEY = "orders"
POP_TIMEOUT = 5  # seconds; also how quickly a stop request is noticed
RETRY_PAUSE = 5

running = True


class Order(TypedDict):
    id: str
    sku: str
    qty: int


def env_port(name: str, default: int) -> int:
    """A port from the environment; also accepts service-link values like ``tcp://ip:6379``."""
    value = os.getenv(name, "").strip()
    if not value:
        return default
    return int(value.rsplit(":", 1)[-1])


def describe(exc: Exception) -> str:
    """First line of an error, with any configured password masked."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    for var in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        secret = os.getenv(var)
        if secret:
            text = text.replace(secret, "***")
    return text


def connect_db() -> psycopg.Connection[tuple[Any, ...]]:
    conn = psycopg.connect(
        host=os.getenv("POSTGRES_HOST", "postgres"),
        port=env_port("POSTGRES_PORT", 5432),
        user=os.getenv("POSTGRES_USER", "postgres"),
        password=os.getenv("POSTGRES_PASSWORD", ""),
        dbname=os.getenv("POSTGRES_DB", "postgres"),
        connect_timeout=5,
        autocommit=True,
    )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop.orders'))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders ("
            " id text PRIMARY KEY,"
            " sku text NOT NULL,"
            " qty integer NOT NULL CHECK (qty > 0),"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    return conn


def parse(raw: str) -> Order | None:
    try:
        data = json.loads(raw)
        order = Order(id=str(data["id"]), sku=str(data["sku"]), qty=int(data["qty"]))
    except (ValueError, TypeError, KeyError):
        return None
    return order if order["id"] and order["sku"] and order["qty"] > 0 else None


def store(conn: psycopg.Connection[tuple[Any, ...]], order: Order) -> bool:
    """Insert the order; False if it was already stored (a retried delivery)."""
    cur = conn.execute(
        "INSERT INTO orders (id, sku, qty) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (order["id"], order["sku"], order["qty"]),
    )
    return cur.rowcount == 1


def stop(signum: int, _frame: FrameType | None) -> None:
    global running
    log.info("received %s, stopping after the current order", signal.Signals(signum).name)
    running = False


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host = os.getenv("REDIS_HOST", "redis")
    port = env_port("REDIS_PORT", 6379)
    options: dict[str, Any] = {
        "socket_connect_timeout": 5,
        "socket_timeout": POP_TIMEOUT + 5,
        "decode_responses": True,
    }
    queue = (
        redis.Redis.from_url(os.environ["REDIS_URL"], **options)
        if os.getenv("REDIS_URL")
        else redis.Redis(
            host=host, port=port, password=os.getenv("REDIS_PASSWORD") or None, **options
        )
    )
    log.info("waiting for orders on redis %s:%d list %r", host, port, ORDERS_KEY)
    conn: psycopg.Connection[tuple[Any, ...]] | None = None

    while running:
        try:
            item = queue.blpop([ORDERS_KEY], timeout=POP_TIMEOUT)
        except redis.RedisError as exc:
            log.error("redis unavailable: %s; retrying in %ds", describe(exc), RETRY_PAUSE)
            time.sleep(RETRY_PAUSE)
            continue
        if item is None:
            continue
        raw = str(item[1])
        order = parse(raw)
        if order is None:
            log.error("dropped malformed order: %.200s", raw)
            continue
        try:
            if conn is None or conn.closed:
                conn = connect_db()
            stored = store(conn, order)
        except psycopg.Error as exc:
            log.error("database unavailable: %s; order %s requeued", describe(exc), order["id"])
            if conn is not None:
                conn.close()
            conn = None
            try:
                queue.lpush(ORDERS_KEY, raw)
            except redis.RedisError as requeue_exc:
                log.error("LOST order %s (%s): %s", order["id"], describe(requeue_exc), raw)
            time.sleep(RETRY_PAUSE)
            continue
        what = "stored" if stored else "already stored"
        log.info("order %s %s: %d x %s", order["id"], what, order["qty"], order["sku"])

    if conn is not None:
        conn.close()
    log.info("stopped")


if __name__ == "__main__":
    main()
