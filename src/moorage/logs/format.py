"""One log line: Heroku's rendering, its inverse, and how raw output becomes messages.

A rendered line looks like ``2026-11-26T10:00:00.123456+00:00 app[web.1]: hello``. The prefix
names the source and the process: ``app[<process>]`` for a dyno's own output,
``moorage[router]`` for the router's access log and ``moorage[<process>]`` for the platform's
lines (``api``, ``scheduler``, ``release``...). The process name ``router`` therefore belongs
to the router source: a ``moorage`` line from process ``router`` parses back as a router line.

How raw dyno output becomes messages (:func:`split_message`):

* bytes are decoded as UTF-8; invalid sequences become U+FFFD;
* one trailing line ending (``\\n`` or ``\\r\\n``) is dropped, then the text is split on ``\\n``
  (a ``\\r`` right before it goes too); empty lines in between are kept as ``""`` because
  a blank line the program printed is part of its output;
* ANSI escape sequences (colours, cursor moves) are removed; every other control character
  except tab (C0, DEL and C1, including a lone ``\\r``) becomes U+FFFD, so nothing is
  silently lost and nothing can forge a line; so does a lone surrogate in ``str`` input,
  which no UTF-8 text can hold;
* a line longer than ``limit`` UTF-8 bytes is cut into several messages at character
  boundaries: lines are split, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

SOURCES = ("app", "router", "moorage")
"""The values :attr:`LogLine.source` takes."""

MESSAGE_LIMIT = 10_240
"""Default maximum size of one message, in UTF-8 bytes."""

DropHook = Callable[[str, str, int], None]
"""Called as ``on_drop(app, consumer, count)`` when ``count`` lines of ``app`` are dropped
for a consumer (``"drain"``, ``"tail"``) that could not keep up."""

_LINE = re.compile(
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z))"
    r" (?P<who>app|moorage)\[(?P<process>[^\]\s]+)\]: (?P<message>.*)",
    re.DOTALL,
)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")  # and lone surrogates
_BREAKS = re.compile(r"[\r\n]")
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class LogLine:
    """One message from one process at one instant."""

    time: datetime
    """When the line was produced; timezone-aware (rendered in UTC)."""
    source: str
    """``"app"``, ``"router"`` or ``"moorage"``."""
    process: str
    """``"web.1"``, ``"router"``, ``"api"``, ``"scheduler"``, ``"release"``..."""
    message: str
    """The text, one line (see :func:`split_message`)."""

    def prefix(self) -> str:
        """``app[web.1]``, ``moorage[router]`` or ``moorage[api]``."""
        if self.source == "app":
            return f"app[{self.process}]"
        if self.source == "router":
            return "moorage[router]"
        return f"moorage[{self.process}]"

    def render(self) -> str:
        """The Heroku-style line, without a trailing newline.

        A CR or LF that slipped into ``message`` becomes U+FFFD so the result is one line.
        """
        stamp = self.time.astimezone(UTC).isoformat(timespec="microseconds")
        message = self.message
        if "\n" in message or "\r" in message:
            message = _BREAKS.sub(_REPLACEMENT, message)
        return f"{stamp} {self.prefix()}: {message}"


def overflow(count: int, since: datetime) -> LogLine:
    """The line that says ``count`` messages were dropped for a slow consumer, worded as
    Heroku's logplex words it: ``moorage[logplex]: Error L10 (output buffer overflow): ...``."""
    stamp = since.astimezone(UTC).isoformat(timespec="seconds")
    return LogLine(
        datetime.now(UTC),
        "moorage",
        "logplex",
        f"Error L10 (output buffer overflow): {count} messages dropped since {stamp}.",
    )


def parse(text: str) -> LogLine | None:
    """The :class:`LogLine` a rendered line stands for; None if ``text`` is not one.

    One trailing line ending is ignored, so lines read from a file parse as they are.
    """
    if text.endswith("\n"):
        text = text[:-1]
    match = _LINE.fullmatch(text)
    if match is None:
        return None
    try:
        time = datetime.fromisoformat(match["time"]).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00
        return None
    process = match["process"]
    if match["who"] == "app":
        source = "app"
    elif process == "router":
        source = "router"
    else:
        source = "moorage"
    return LogLine(time=time, source=source, process=process, message=match["message"])


def split_message(raw: bytes | str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Turn raw output into messages of at most ``limit`` UTF-8 bytes (see module docstring).

    ``b""`` gives ``[]``; ``b"\\n"`` gives ``[""]`` (one empty line).
    """
    if limit < 4:
        raise ValueError("limit must be at least 4 bytes (one UTF-8 character)")
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    elif not text:
        return []
    messages: list[str] = []
    for piece in text.split("\n"):
        if piece.endswith("\r"):
            piece = piece[:-1]
        if "\x1b" in piece:
            piece = _ANSI.sub("", piece)
        piece = _CONTROL.sub(_REPLACEMENT, piece)
        messages.extend(_chunks(piece, limit))
    return messages


def _chunks(piece: str, limit: int) -> list[str]:
    """``piece`` cut into parts of at most ``limit`` UTF-8 bytes, at character boundaries."""
    if len(piece) * 4 <= limit:
        return [piece]
    data = piece.encode("utf-8")
    if len(data) <= limit:
        return [piece]
    parts: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start = end
    return parts


def matches(line: LogLine, dyno: str | None, source: str | None) -> bool:
    """Whether ``line`` passes the filters (None means "any").

    ``dyno`` matches the process exactly (``web.1``, ``router``) or by process type
    (``web`` matches ``web.1`` and ``web.2``); ``source`` compares :attr:`LogLine.source`.
    """
    if source is not None and line.source != source:
        return False
    if dyno is None:
        return True
    return line.process == dyno or line.process.startswith(dyno + ".")
