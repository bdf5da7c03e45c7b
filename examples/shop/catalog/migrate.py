"""Create and seed the catalog's ``products`` table; safe to run again.

Run before each release: on Kubernetes by the Job ``catalog-migrate``, on Moorage as
the release phase that ``moor k8s:import`` makes of that Job.
"""

from __future__ import annotations

import sys

import psycopg
from app import connect, describe

SEED_PRODUCTS: list[tuple[str, str, int]] = [
    ("TEA-EARL", "Earl Grey tea, 100 g", 650),
    ("TEA-SENCHA", "Sencha green tea, 100 g", 890),
    ("MUG-BLUE", "Blue enamel mug", 1200),
    ("POT-GLASS", "Glass teapot, 1 l", 2450),
    ("HONEY-500", "Wildflower honey, 500 g", 975),
]


def migrate() -> int:
    """The number of products inserted (0 when the table was already seeded)."""
    with connect() as conn, conn.transaction():
        # Serialise two migrations started at once.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop.products'))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS products ("
            " sku text PRIMARY KEY, name text NOT NULL, price_cents integer NOT NULL)"
        )
        row = conn.execute("SELECT count(*) FROM products").fetchone()
        if row is not None and row[0] > 0:
            return 0
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO products (sku, name, price_cents) VALUES (%s, %s, %s)",
                SEED_PRODUCTS,
            )
    return len(SEED_PRODUCTS)


if __name__ == "__main__":
    try:
        added = migrate()
    except psycopg.Error as exc:
        print(f"migrate: {describe(exc)}", file=sys.stderr)
        sys.exit(1)
    print(f"migrate: products table ready ({added} products added)")
