"""The router's log lines: one file per app, written by nginx itself.

nginx appends each request's line to ``<dir>/<app>.log`` (``access_log`` with the app in its
path, see router/nginx.py), so nothing in Python runs per request: ``moor server`` reads an
app's file only when someone asks for its history, tails it or drains it. A line is
``<msec> <message>`` (``1790000000.123 at=info method=GET path="/" ...``); readers render
it as the log store renders lines, ``<iso time> moorage[router]: <message>``.

A file over ``max_bytes`` is moved to ``<app>.log.1`` (replacing the one before). nginx
checks its open log files' names every ``REOPEN_SECONDS`` (``open_log_file_cache valid=``)
and starts a new file then; until it does, lines still go to the moved file, so a cursor
keeps reading a moved file until it has been quiet for longer than that.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from moorage.errors import InvalidName
from moorage.logs.format import LogLine
from moorage.logs.textfiles import complete_end, lines_backwards

REOPEN_SECONDS = 2
"""How often nginx checks that an open log file still has its name (nginx.conf)."""

_SUFFIX = ".log"
_OLD = ".log.1"
_seconds: dict[str, str] = {}  # "1790000000" -> "2026-09-21T10:13:20"


def stamp(msec: str) -> str | None:
    """``1790000000.123`` -> ``2026-09-21T10:13:20.123000+00:00`` (LogLine.render's), made
    once a second; None if ``msec`` is not a time."""
    second, _, fraction = msec.partition(".")
    if not fraction.isdigit() or len(fraction) > 6:
        return None
    base = _seconds.get(second)
    if base is None:
        try:
            base = datetime.fromtimestamp(int(second), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        except (ValueError, OverflowError, OSError):
            return None
        if len(_seconds) > 64:
            _seconds.clear()
        _seconds[second] = base
    return f"{base}.{fraction:0<6}+00:00"


def render(raw: str) -> str | None:
    """One line nginx wrote, as the log store renders lines; None if it is not one."""
    msec, _, message = raw.partition(" ")
    when = stamp(msec) if message else None
    if when is None:
        return None
    if "\r" in message or "\n" in message:  # nginx escapes them; one line, whatever comes
        message = message.replace("\r", "\ufffd").replace("\n", "\ufffd")
    return f"{when} moorage[router]: {message}"


def line_object(raw: str) -> LogLine | None:
    """One line nginx wrote as a :class:`LogLine` (for drains); None if it is not one."""
    msec, _, message = raw.partition(" ")
    if not message or stamp(msec) is None:
        return None
    return LogLine(datetime.fromtimestamp(float(msec), UTC), "router", "router", message)


def merge(first: list[str], second: list[str]) -> list[str]:
    """Two lists of rendered lines, each in time order, as one in time order."""
    if not first or not second:
        return first or second
    return list(heapq.merge(first, second, key=lambda text: text[:32]))


class RouterFiles:
    """The per-app router log files in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, max_bytes: int = 8 * 2**20) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def path(self, app: str) -> Path:
        if not app or app in {".", ".."} or any(c in app for c in "/\\\x00"):
            raise InvalidName(f"Invalid app name for the router log: {app!r}")
        return self.directory / f"{app}{_SUFFIX}"

    def tail(self, app: str, n: int, end: int | None = None) -> list[str]:
        """The last ``n`` rendered lines of ``app``, oldest first (of the current file only
        those before byte ``end``, where a cursor made at the same moment starts)."""
        found: list[str] = []
        path = self.path(app)
        for name, stop in ((path, end), (path.with_name(path.name[:-4] + _OLD), None)):
            for raw in lines_backwards(name, stop):
                text = render(raw.decode("utf-8", errors="replace"))
                if text is not None:
                    found.append(text)
                    if len(found) >= n:
                        return found[::-1]
        return found[::-1]

    def cursor(self, app: str, since: float | None = None) -> RouterCursor:
        """A reader of ``app``'s lines from now on, or of those from time ``since`` on (in
        the current file)."""
        return RouterCursor(self.path(app), since)

    def delete(self, app: str) -> None:
        path = self.path(app)
        for name in (path, path.with_name(path.name[:-4] + _OLD)):
            name.unlink(missing_ok=True)

    def rotate(self) -> list[str]:
        """Move every file over ``max_bytes`` aside; the apps whose files moved."""
        moved = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.name.endswith(_SUFFIX):
                continue
            try:
                if entry.stat().st_size <= self.max_bytes:
                    continue
                os.replace(entry.path, entry.path[:-4] + _OLD)
            except FileNotFoundError:
                continue
            moved.append(entry.name[:-4])
        return moved


@dataclass
class _Open:
    """A file being read: where, its inode, and when it last gave a line."""

    file: BinaryIO
    inode: int
    offset: int
    last: float


class RouterCursor:
    """Reads the lines nginx appends to one app's file, across moves (see the module)."""

    def __init__(self, path: Path, since: float | None = None) -> None:
        self.path = path
        self.since = since
        self._current: _Open | None = self._open(at_end=since is None)
        self._moved: _Open | None = None  # the file before a move, until it is quiet
        self.start = self._current.offset if self._current else 0

    def _open(self, *, at_end: bool) -> _Open | None:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return None
        st = os.fstat(fh.fileno())
        offset = complete_end(self.path, st.st_size) if at_end else 0
        return _Open(fh, st.st_ino, offset, time.monotonic())

    def read(self) -> list[str]:
        """The complete lines written since the last read (raw, as nginx wrote them)."""
        out: list[str] = []
        if self._moved is not None:
            out += _read(self._moved)
            if time.monotonic() - self._moved.last > 2 * REOPEN_SECONDS + 1:
                self._moved.file.close()
                self._moved = None
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if self._current is not None and inode != self._current.inode:
            out += _read(self._current)  # moved (or deleted): read it on while nginx writes
            if self._moved is not None:
                self._moved.file.close()
            self._moved, self._current = self._current, None
        if self._current is None and inode is not None:
            self._current = self._open(at_end=False)
        if self._current is not None:
            out += _read(self._current)
        if self.since is not None and out:
            out = [line for line in out if _time(line) >= self.since]
            if out:
                self.since = None  # past it: every later line is newer
        return out

    def close(self) -> None:
        for held in (self._current, self._moved):
            if held is not None:
                held.file.close()
        self._current = self._moved = None


def _time(raw: str) -> float:
    try:
        return float(raw.partition(" ")[0])
    except ValueError:
        return 0.0


def _read(held: _Open) -> list[str]:
    held.file.seek(held.offset)
    data = held.file.read()
    cut = data.rfind(b"\n") + 1
    if not cut:
        return []
    held.offset += cut
    held.last = time.monotonic()
    return data[:cut].decode("utf-8", errors="replace").split("\n")[:-1]


def rendered(lines: Iterator[str] | list[str]) -> list[str]:
    """Raw lines as rendered lines, leaving out any that are not router lines."""
    return [text for text in map(render, lines) if text is not None]
