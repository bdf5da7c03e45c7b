"""Heroku's ``Range`` pagination for every list endpoint.

A list answer sorted and cut by the ``Range`` request header, as the Platform API does::

    Range: version ..; max=1, order=desc        the newest release
    Range: name ]myapp..; max=200               the names after myapp

The answer is ``200`` when it holds the rest of the list, otherwise ``206 Partial Content``
with ``Next-Range`` (the header to send for the next page). ``Content-Range`` names the
first and last value returned. :func:`page` is pure; :class:`RangeMiddleware` applies it
to JSON list answers of ``GET`` requests, so routes stay unaware.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.errors import InvalidParams

DEFAULT_MAX = 200
LIMIT = 1000
_INT_DIGITS = 4000  # longer digit strings compare as text (int() refuses over 4300 digits)
# Linear time on any header: possessive quantifiers, and one span for start..end split at
# its first ".." in Python (a lazy start and a greedy end over the same characters, or two
# runs of spaces, backtrack quadratically: seconds for a header of a few KB).
_RANGE = re.compile(
    r"^\s*+(?P<field>[a-z_]++)\s++(?P<excl>\])?+(?P<span>[^\s;,]*+)\s*+"
    r"(?:[;,]\s*+(?P<params>.*))?$"
)
_MAX = re.compile(r"0*([1-9][0-9]*)")


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
    start, dots, end = m["span"].partition("..") if m else ("", "", "")
    if m is None or not dots:
        raise InvalidParams(
            f"Invalid Range header {header!r}: expected `<field> [start]..[end][; max=N, "
            "order=asc|desc]`, e.g. `id ..; max=200`."
        )
    size, desc = DEFAULT_MAX, False
    for part in re.split(r"[;,]", m["params"] or ""):
        key, _, value = part.strip().partition("=")
        if not key:
            continue
        number = _MAX.fullmatch(value)
        if key == "max" and number:  # ASCII digits; more than four of them is over the limit
            size = min(int(number[1]), LIMIT) if len(number[1]) <= 4 else LIMIT
        elif key == "order" and value in ("asc", "desc"):
            desc = value == "desc"
        else:
            raise InvalidParams(f"Invalid Range parameter {part.strip()!r}: use max=N or order=.")
    return Range(m["field"], start, end, bool(m["excl"]), size, desc)


def _key(value: Any) -> tuple[int, Any]:
    """Numbers before text; numbers by value (version 10 after version 9)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    text = "" if value is None else str(value)
    if text.isascii() and text.isdigit() and len(text) <= _INT_DIGITS:
        return (0, int(text))
    return (1, text)


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


class RangeMiddleware:
    """Apply ``Range`` to JSON list answers of GET requests.

    Plain ASGI: a request without ``Range`` goes straight through, so streams (logs, release
    output) are never wrapped; with ``Range``, only a JSON answer is held to be cut."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = Headers(scope=scope).get("range") if scope["type"] == "http" else None
        if not header or scope["method"] != "GET" or scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        try:
            rng = parse(header)
        except InvalidParams as exc:
            await _invalid(exc)(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold_json(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = Headers(raw=message["headers"]).get("content-type", "")
                if message["status"] == 200 and "json" in ctype:
                    start = message
                    return
            elif start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await _paged(rng, start, b"".join(chunks))(scope, receive, send)
                return
            await send(message)

        await self.app(scope, receive, hold_json)


def _paged(rng: Range, start: Message, body: bytes) -> Response:
    data = json.loads(body)
    if not isinstance(data, list):
        kept = {k: v for k, v in Headers(raw=start["headers"]).items() if k != "content-length"}
        return Response(body, status_code=200, headers=kept)
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


def _invalid(exc: InvalidParams) -> Response:
    return Response(json.dumps(exc.body()), status_code=exc.status, media_type="application/json")
