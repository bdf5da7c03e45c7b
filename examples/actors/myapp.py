"""Actors: a tiny Flask app that lists actors stored in PostgreSQL.

Configuration (all from the environment, twelve-factor style):

* ``DATABASE_URL`` -- ``postgres://`` or ``postgresql://`` URL of the database.
* ``GREETING``     -- optional text shown above the list.
* ``PORT``         -- port to listen on when run as ``python3 myapp.py`` (default 5000).

The table is created and seeded lazily on the first request that reaches the
database, so the app starts fine even while the database is still coming up.
"""

# The ``__main__`` block at the end is kept verbatim from the article, including
# ``debug=True``; silence the corresponding bandit rule for this file only.
# ruff: noqa: S201

from __future__ import annotations

import logging
import os

import psycopg
from flask import Flask, render_template_string

app = Flask(__name__)
log = logging.getLogger("myapp")

SEED_ACTORS: list[tuple[str, int]] = [
    ("Meryl Streep", 1949),
    ("Denzel Washington", 1954),
    ("Cate Blanchett", 1969),
    ("Tom Hanks", 1956),
    ("Viola Davis", 1965),
    ("Daniel Day-Lewis", 1957),
    ("Frances McDormand", 1957),
    ("Morgan Freeman", 1937),
]

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Actors</title>
</head>
<body>
  <h1>Actors</h1>
  {% if greeting %}<p id="greeting">{{ greeting }}</p>{% endif %}
  <ul id="actors">
  {%- for name, born in actors %}
    <li>{{ name }}{% if born %} ({{ born }}){% endif %}</li>
  {%- endfor %}
  </ul>
</body>
</html>
"""

_TEXT = {"Content-Type": "text/plain; charset=utf-8"}

_schema_ready = False


def database_url() -> str | None:
    """Return DATABASE_URL (Heroku-style ``postgres://`` normalised), or None."""
    url = os.getenv("DATABASE_URL", "").strip()
    if not url:
        return None
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create and seed the ``actors`` table once per process."""
    global _schema_ready
    if _schema_ready:
        return
    with conn.transaction():
        # Serialise concurrent replicas doing the same first-time setup.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('myapp.actors'))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS actors ("
            " id serial PRIMARY KEY, name text NOT NULL, born integer)"
        )
        row = conn.execute("SELECT count(*) FROM actors").fetchone()
        if row is not None and row[0] == 0:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO actors (name, born) VALUES (%s, %s)", SEED_ACTORS)
    _schema_ready = True


def fetch_actors(url: str) -> list[tuple[str, int | None]]:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        ensure_schema(conn)
        rows = conn.execute("SELECT name, born FROM actors ORDER BY name").fetchall()
    return [(str(name), born if isinstance(born, int) else None) for name, born in rows]


@app.get("/")
def index() -> tuple[str, int, dict[str, str]]:
    url = database_url()
    if url is None:
        return "Service unavailable: DATABASE_URL is not set.\n", 503, _TEXT
    try:
        actors = fetch_actors(url)
    except psycopg.Error as exc:
        # Only the exception class: psycopg messages may echo the connection string.
        log.warning("database error: %s", type(exc).__name__)
        return "Service unavailable: the database cannot be reached.\n", 503, _TEXT
    body = render_template_string(PAGE, actors=actors, greeting=os.getenv("GREETING", ""))
    return body, 200, {"Content-Type": "text/html; charset=utf-8"}


@app.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok", 200, _TEXT


if __name__ == "__main__":
    port = int(os.getenv("PORT", 5000))
    app.run(debug=True, host='0.0.0.0', port=port)
