"""Heroku's ``Range`` pagination for every list endpoint.

A list answer sorted and cut by the ``Range`` request header, as the Platform API does::

    Range: version ..; max=1, order=desc        the newest release
    Range: name ]myapp..; max=200               the names after myapp

The answer is ``200`` when it holds the rest of the list, otherwise ``206 Partial Content``
with ``Next-Range`` (the header to send for the next page). ``Content-Range`` names the
first and last value returned. :func:`page` is pure; :func:`paginate` is the middleware
that applies it to JSON list answers of ``GET`` requests, so routes stay unaware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from moorage.errors import InvalidParams

DEFAULT_MAX = 200
LIMIT = 1000
_RANGE = re.compile(
    r"^\s*(?P<field>[a-z_]+)\s+(?P<excl>\])?(?P<start>[^\s;,]*?)\.\.(?P<end>[^\s;,]*)"
    r"\s*(?:[;,]\s*(?P<params>.*))?$"
)


@dataclass(frozen=True)
class Range:
    field: str
    start: str = ""
    end: str = ""
    exclusive: bool = False  # "]start..": strictly after start
    max: int = DEFAULT_MAX
    desc: bool = False


def parse(header: str) -> Range:
    """``Range`` header -> :class:`Range`; InvalidParams says what a valid one looks like."""
    m = _RANGE.match(header)
    if m is None:
        raise InvalidParams(
            f"Invalid Range header {header!r}: expected `<field> [start]..[end][; max=N, "
            "order=asc|desc]`, e.g. `id ..; max=200`."
        )
    size, desc = DEFAULT_MAX, False
    for part in re.split(r"[;,]", m["params"] or ""):
        key, _, value = part.strip().partition("=")
        if not key:
            continue
        if key == "max" and value.isdigit() and int(value) > 0:
            size = min(int(value), LIMIT)
        elif key == "order" and value in ("asc", "desc"):
            desc = value == "desc"
        else:
            raise InvalidParams(f"Invalid Range parameter {part.strip()!r}: use max=N or order=.")
    return Range(m["field"], m["start"], m["end"], bool(m["excl"]), size, desc)


def _key(value: Any) -> tuple[int, Any]:
    """Numbers before text; numbers by value (version 10 after version 9)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    text = "" if value is None else str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def page(items: list[Any], rng: Range) -> tuple[list[Any], str | None, str | None]:
    """The page of ``items`` for ``rng``: (items, Content-Range, Next-Range or None)."""
    if items and not all(isinstance(i, dict) and rng.field in i for i in items):
        fields = sorted(items[0]) if isinstance(items[0], dict) else []
        raise InvalidParams(
            f"Invalid Range field {rng.field!r}; this list ranges over "
            f"{', '.join(f for f in ('id', 'name', 'version') if f in fields) or 'id'}."
        )
    ordered = sorted(items, key=lambda i: _key(i[rng.field]), reverse=rng.desc)
    start, end = _key(rng.start), _key(rng.end)

    def inside(item: dict[str, Any]) -> bool:
        k = _key(item[rng.field])
        if rng.start:
            before = k < start if not rng.desc else k > start
            if before or (rng.exclusive and k == start):
                return False
        if rng.end:
            return k <= end if not rng.desc else k >= end
        return True

    chosen = [i for i in ordered if inside(i)]
    out = chosen[: rng.max]
    if not out:
        return out, None, None
    first, last = out[0][rng.field], out[-1][rng.field]
    content = f"{rng.field} {first}..{last}"
    more = None
    if len(chosen) > rng.max:
        order = "desc" if rng.desc else "asc"
        more = f"{rng.field} ]{last}..; max={rng.max}, order={order}"
    return out, content, more


async def paginate(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Apply ``Range`` to JSON list answers of GET requests."""
    header = request.headers.get("range")
    if request.method != "GET" or not header or request.url.path.startswith("/v2/"):
        return await call_next(request)
    try:
        rng = parse(header)
    except InvalidParams as exc:
        return _invalid(exc)
    response = await call_next(request)
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return response
    body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
    data = json.loads(body)
    if not isinstance(data, list):
        return _copy(response, body)
    try:
        items, content, more = page(data, rng)
    except InvalidParams as exc:
        return _invalid(exc)
    headers = {"Accept-Ranges": rng.field}
    if content:
        headers["Content-Range"] = content
    if more:
        headers["Next-Range"] = more
    return Response(
        json.dumps(items),
        status_code=206 if more else 200,
        media_type="application/json",
        headers=headers,
    )


def _copy(response: Response, body: bytes) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers)


def _invalid(exc: InvalidParams) -> Response:
    return Response(json.dumps(exc.body()), status_code=exc.status, media_type="application/json")
