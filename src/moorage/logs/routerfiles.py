"""The router's log lines, read where nginx writes them and only when someone asks.

nginx appends one line per request to its access log, buffered (``<msec> <app> <message>``:
``1790000000.123 shop at=info method=GET path="/" ...``). Nothing reads it line by line:
``moor server`` looks into it only for an app's history (``moor logs``), a tail or a drain,
and then finds that app's lines with a regular expression over whole blocks, so the work
is in C and proportional to the bytes, not a Python step per request. Readers render a line
as the log store renders lines: ``<iso time> moorage[router]: <message>``.

The file moves to ``access.log.1`` (replacing the one before) once over ``max_bytes`` and
nginx reopens its log (``reopen``); a cursor reads a moved file to its end before it moves
on. History therefore reaches back over the last one to two files of all apps' requests.

An app's name can be taken again after a destroy: :meth:`RouterLog.forget` records when,
and lines of that name from before are never shown again (kept in ``forgotten.json``).
"""

from __future__ import annotations

import heapq
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from moorage.logs.format import LogLine
from moorage.logs.textfiles import complete_end_of

_BLOCK = 1 << 20
_OLD = ".1"
_QUIET = 5.0  # seconds a moved file must stay unchanged before a cursor leaves it
_seconds: dict[str, str] = {}  # "1790000000" -> "2026-09-21T10:13:20"

RouterLine = tuple[str, str]
"""``(app, "<msec> <message>")``: one request's line."""


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


_H10_PEER = re.compile(r" dyno=unix:\S+ connect=\S+ service=\S+ ")


def _message(message: str) -> str:
    """An H10 line as Heroku's router writes it: ``desc="App crashed"`` (nginx escapes the
    quotes of the value the router set), no dyno, connect or service time (nginx names the
    router's own 503 server there)."""
    if message.startswith("at=error code=H10 "):
        at, sep, rest = message.partition(" method=")
        message = at.replace("\\x22", '"') + sep + rest
        return _H10_PEER.sub(" dyno= connect= service= ", message, count=1)
    return message


def render(raw: str) -> str | None:
    """``<msec> <message>`` as the log store renders lines; None if it is not one."""
    msec, _, message = raw.partition(" ")
    when = stamp(msec) if message else None
    if when is None:
        return None
    message = _message(message)
    if "\r" in message or "\n" in message:  # nginx escapes them; one line, whatever comes
        message = message.replace("\r", "\ufffd").replace("\n", "\ufffd")
    return f"{when} moorage[router]: {message}"


def rendered(raws: list[str]) -> list[str]:
    """Raw lines as rendered lines, leaving out any that are not router lines."""
    return [text for text in map(render, raws) if text is not None]


def line_object(raw: str) -> LogLine | None:
    """``<msec> <message>`` as a :class:`LogLine` (for drains); None if it is not one."""
    msec, _, message = raw.partition(" ")
    if not message or stamp(msec) is None:
        return None
    return LogLine(datetime.fromtimestamp(float(msec), UTC), "router", "router", _message(message))


def merge(first: list[str], second: list[str]) -> list[str]:
    """Two lists of rendered lines, each in time order, as one in time order."""
    if not first or not second:
        return first or second
    return list(heapq.merge(first, second, key=lambda text: text[:32]))


def pattern(apps: list[str]) -> re.Pattern[bytes]:
    """The lines of ``apps``: groups time, app, message."""
    names = b"|".join(re.escape(app.encode()) for app in sorted(apps)) or b"(?!)"
    return re.compile(rb"^(\d+\.\d+) (" + names + rb") ([^\n]+)$", re.MULTILINE)


class RouterLog:
    """nginx's access log at ``path``, read by app (see the module docstring)."""

    def __init__(
        self, path: Path, max_bytes: int = 64 * 2**20, reopen: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.reopen = reopen
        self._forgotten_file = path.with_name("forgotten.json")
        self._lock = threading.Lock()
        self._forgotten = self._load_forgotten()

    def tail(self, app: str, n: int, end: int | None = None) -> list[str]:
        """The last ``n`` rendered lines of ``app``, oldest first (of the current file only
        those before byte ``end``, where a cursor made at the same moment starts)."""
        found: list[str] = []
        regex, since = pattern([app]), self._forgotten.get(app, 0.0)
        for name, stop in ((self.path, end), (self.moved, None)):
            for block in _blocks_backwards(name, stop):
                hits = [
                    (m[1].decode(), m[3].decode(errors="replace")) for m in regex.finditer(block)
                ]
                found[:0] = [f"{t} {message}" for t, message in hits if float(t) >= since]
                if len(found) >= n:
                    return rendered(found[-n:])
        return rendered(found)

    @property
    def moved(self) -> Path:
        return self.path.with_name(self.path.name + _OLD)

    def cursor(self, apps: list[str], since: float | None = None) -> RouterCursor:
        """A reader of ``apps``' lines from now on, or from time ``since`` on (in the
        current file)."""
        cutoff = max([since or 0.0, *(self._forgotten.get(app, 0.0) for app in apps)])
        return RouterCursor(self.path, pattern(apps), since, cutoff)

    def forget(self, app: str) -> None:
        """Never show the lines ``app`` has so far (its name may go to a new app)."""
        with self._lock:  # apps are made and destroyed in parallel
            self._forgotten[app] = time.time()
            horizon = time.time() - 30 * 86400  # older than any file kept
            self._forgotten = {a: t for a, t in self._forgotten.items() if t > horizon}
            self._forgotten_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            staged = self._forgotten_file.with_suffix(".new")
            staged.write_text(json.dumps(self._forgotten))
            os.replace(staged, self._forgotten_file)

    def _load_forgotten(self) -> dict[str, float]:
        try:
            data = json.loads(self._forgotten_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(a): float(t) for a, t in data.items()} if isinstance(data, dict) else {}

    def rotate(self) -> bool:
        """Move the file aside once it is over ``max_bytes`` and have nginx reopen it."""
        try:
            if self.path.stat().st_size <= self.max_bytes:
                return False
            os.replace(self.path, self.moved)
        except FileNotFoundError:
            return False
        if self.reopen is not None:
            self.reopen()
        return True


@dataclass
class _Open:
    """A file being read: where, its inode, and when it last grew."""

    file: BinaryIO
    inode: int
    offset: int
    last: float


class RouterCursor:
    """Reads the lines of some apps nginx appends, across moves of the file."""

    def __init__(
        self, path: Path, regex: re.Pattern[bytes], since: float | None, cutoff: float
    ) -> None:
        self.path = path
        self.regex = regex
        self.cutoff = cutoff
        self._current: _Open | None = self._open(at_end=since is None)
        self._moved: _Open | None = None  # the file before a move, until it is quiet
        self.start = self._current.offset if self._current else 0

    def _open(self, *, at_end: bool) -> _Open | None:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return None
        st = os.fstat(fh.fileno())
        offset = complete_end_of(fh, st.st_size) if at_end else 0
        return _Open(fh, st.st_ino, offset, time.monotonic())

    def read(self) -> list[RouterLine]:
        """The lines written since the last read: ``(app, "<msec> <message>")``."""
        out: list[RouterLine] = []
        if self._moved is not None:
            out += self._read(self._moved)
            if time.monotonic() - self._moved.last > _QUIET:
                self._moved.file.close()
                self._moved = None
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if self._current is not None and inode != self._current.inode:
            out += self._read(self._current)  # moved: read on while nginx still writes it
            if self._moved is not None:
                self._moved.file.close()
            self._moved, self._current = self._current, None
        if self._current is None and inode is not None:
            self._current = self._open(at_end=False)
        if self._current is not None:
            out += self._read(self._current)
        return out

    def _read(self, held: _Open) -> list[RouterLine]:
        held.file.seek(held.offset)
        data = held.file.read(64 * _BLOCK)
        cut = data.rfind(b"\n") + 1
        if not cut:
            return []
        held.offset += cut
        held.last = time.monotonic()
        lines = []
        for m in self.regex.finditer(data, 0, cut):
            msec = m[1].decode()
            if float(msec) >= self.cutoff:
                lines.append((m[2].decode(), f"{msec} {m[3].decode(errors='replace')}"))
        return lines

    def close(self) -> None:
        for held in (self._current, self._moved):
            if held is not None:
                held.file.close()
        self._current = self._moved = None


def _blocks_backwards(path: Path, end: int | None) -> Iterator[bytes]:
    """Whole lines of ``path`` before byte ``end`` (or its last complete line), in blocks
    of about ``_BLOCK`` bytes, the newest block first."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        size = fh.seek(0, os.SEEK_END) if end is None else end
        pos, span = complete_end_of(fh, size), _BLOCK
        while pos > 0:
            start = max(0, pos - span)
            fh.seek(start)
            block = fh.read(pos - start)
            cut = block.find(b"\n") + 1 if start else 0  # a line cut at the start: later
            if start and cut == 0:  # one line longer than the block: read more
                span *= 2
                continue
            yield block[cut:]
            pos, span = start + cut, _BLOCK
