"""Storefront: the shop's public web front end.

* ``GET /``        -- HTML page with the products (fetched from the catalog service over
  HTTP) and a page-view counter kept in Redis.
* ``POST /orders`` -- queue an order (form fields or JSON ``{"sku": ..., "qty": ...}``) by
  pushing it onto the Redis list ``orders``; the worker stores it in Postgres.
* ``GET /healthz`` -- ``ok``; touches neither the catalog nor Redis.

Configuration (environment):

* ``CATALOG_URL``    -- base URL of the catalog service (default ``http://catalog:8080``).
* ``REDIS_URL``      -- Redis URL (``redis://user:password@host:port``); when set it
  wins over the three settings below (twelve-factor platforms set it).
* ``REDIS_HOST``     -- Redis host (default ``redis``).
* ``REDIS_PORT``     -- Redis port (default 6379).
* ``REDIS_PASSWORD`` -- optional Redis password.
* ``PORT``           -- listening port (default 8080; see ``gunicorn.conf.py``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, TypedDict

import redis
from flask import Flask, jsonify, redirect, render_template_string, request, url_for
from flask.typing import ResponseReturnValue

logging.basicConfig(
    stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
)
log = logging.getLogger("storefront")

app = Flask(__name__)

ORDERS_KEY = "orders"
PAGEVIEWS_KEY = "storefront:pageviews"
MAX_QTY = 100


class Product(TypedDict):
    sku: str
    name: str
    price_cents: int


def env_port(name: str, default: int) -> int:
    """A port from the environment.

    Also accepts Kubernetes service-link values such as ``tcp://10.0.0.7:6379``, which
    Kubernetes injects as ``REDIS_PORT`` for a Service named ``redis``.
    """
    value = os.getenv(name, "").strip()
    if not value:
        return default
    return int(value.rsplit(":", 1)[-1])


CATALOG_URL = os.getenv("CATALOG_URL", "http://catalog:8080").rstrip("/")

_REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "decode_responses": True}
store = (
    redis.Redis.from_url(os.environ["REDIS_URL"], **_REDIS_OPTIONS)
    if os.getenv("REDIS_URL")
    else redis.Redis(
        host=os.getenv("REDIS_HOST", "redis"),
        port=env_port("REDIS_PORT", 6379),
        password=os.getenv("REDIS_PASSWORD") or None,
        **_REDIS_OPTIONS,
    )
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shop</title>
</head>
<body>
  <h1>Shop</h1>
  {% if ordered %}<p id="ordered">Thanks! Your order for {{ ordered }} is on its way.</p>{% endif %}
  {% if error %}<p id="error">{{ error }}</p>{% endif %}
  <table id="products">
  {%- for p in products %}
    <tr>
      <td>{{ p.name }}</td>
      <td>{{ "%.2f"|format(p.price_cents / 100) }}</td>
      <td>
        <form method="post" action="{{ url_for('create_order') }}">
          <input type="hidden" name="sku" value="{{ p.sku }}">
          <input type="number" name="qty" value="1" min="1" max="{{ max_qty }}">
          <button type="submit">Order</button>
        </form>
      </td>
    </tr>
  {%- endfor %}
  </table>
  <p id="views">{% if views is not none %}Page views: {{ views }}{% endif %}</p>
</body>
</html>
"""


def fetch_products() -> list[Product]:
    """GET ``$CATALOG_URL/products``; raises ``OSError`` or ``ValueError`` on failure."""
    with urllib.request.urlopen(f"{CATALOG_URL}/products", timeout=3) as resp:  # noqa: S310
        data: Any = json.load(resp)
    if not isinstance(data, list):
        raise ValueError("catalog returned something other than a list")
    return [
        Product(sku=str(p["sku"]), name=str(p["name"]), price_cents=int(p["price_cents"]))
        for p in data
    ]


def count_view() -> int | None:
    """Increment and return the page-view counter; None while Redis is unreachable."""
    try:
        return int(store.incr(PAGEVIEWS_KEY))
    except redis.RedisError as exc:
        log.warning("redis unavailable: %s", type(exc).__name__)
        return None


@app.get("/")
def index() -> tuple[str, int]:
    views = count_view()
    products: list[Product] = []
    error = None
    try:
        products = fetch_products()
    except (OSError, ValueError, KeyError) as exc:
        log.warning("catalog unavailable at %s: %s", CATALOG_URL, exc)
        error = "The catalog is unavailable right now."
    page = render_template_string(
        PAGE,
        products=products,
        views=views,
        error=error,
        ordered=request.args.get("ordered"),
        max_qty=MAX_QTY,
    )
    return page, 503 if error else 200


def parse_order() -> tuple[str, int] | str:
    """``(sku, qty)`` from a JSON body or form fields, or an error message."""
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return "expected a JSON object or form fields sku and qty"
    sku = str(data.get("sku") or "").strip()
    if not sku or len(sku) > 64:
        return "sku is required (at most 64 characters)"
    raw_qty = data.get("qty", 1)
    if isinstance(raw_qty, bool) or not isinstance(raw_qty, (int, str)):
        return "qty must be a whole number"
    try:
        qty = int(raw_qty)
    except ValueError:
        return "qty must be a whole number"
    if not 1 <= qty <= MAX_QTY:
        return f"qty must be between 1 and {MAX_QTY}"
    return sku, qty


@app.post("/orders")
def create_order() -> ResponseReturnValue:
    parsed = parse_order()
    if isinstance(parsed, str):
        return jsonify(error=parsed), 400
    sku, qty = parsed
    order = {"id": uuid.uuid4().hex, "sku": sku, "qty": qty, "ts": time.time()}
    try:
        store.rpush(ORDERS_KEY, json.dumps(order))
    except redis.RedisError as exc:
        log.warning("could not queue order: %s", type(exc).__name__)
        return jsonify(error="orders cannot be taken right now"), 503
    log.info("queued order %s: %d x %s", order["id"], qty, sku)
    if request.is_json:
        return jsonify(order), 202
    return redirect(url_for("index", ordered=sku), code=303)


@app.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=env_port("PORT", 8080))
