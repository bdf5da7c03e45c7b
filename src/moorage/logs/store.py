"""One ordered, bounded log history per app, kept on disk in rotating segment files.

Layout: ``<root>/<app>/<NNNNNNNN>.log``, numbered from ``00000001`` upwards, each holding
rendered lines (``LogLine.render()`` plus ``\\n``). The newest segment is appended to; once it
holds ``segment_lines`` lines or ``segment_bytes`` bytes the next append starts a new one and
the oldest segments beyond ``keep_segments`` are deleted. The previous segment is therefore
always complete, so at least the last ``segment_lines`` lines (or ``segment_bytes`` bytes) are
kept, and the disk used per app stays under about ``keep_segments * segment_bytes`` (a batch
is written whole, so a segment can overshoot its limits by one batch).

One process writes (appends are serialised by one lock per app); any number of readers, in
this process or another, tail and follow the files. A follower moves to the next segment
only once a newer one exists and the current one is read to the end, so it neither skips
nor repeats a line; one that lags by more than ``keep_segments - 1`` whole segments resumes
at the oldest segment still on disk.

The router's lines (one per request) are not appended here: they stay in nginx's access log
(:mod:`moorage.logs.routerfiles`), and :meth:`LogStore.tail` and :meth:`LogStore.follow`
merge an app's lines from it by time, so nothing reads a line per request.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from moorage.errors import InvalidName
from moorage.logs import routerfiles
from moorage.logs.format import DropHook, LogLine, matches, overflow, parse
from moorage.logs.routerfiles import RouterCursor, RouterLog
from moorage.logs.textfiles import complete_end, count_lines, lines_backwards, write_all

log = logging.getLogger(__name__)

Listener = Callable[[str, Sequence[LogLine]], None]
"""Called as ``listener(app, lines)`` after every append."""
Wants = Callable[[str], bool]
"""Whether a listener wants an app's lines at all (a drain manager: the app has a drain)."""

_SUFFIX = ".log"


@dataclass
class _Head:
    """The segment being appended to."""

    number: int
    fd: int
    lines: int
    size: int


class LogStore:
    """Per-app log histories under ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        segment_lines: int = 10_000,
        segment_bytes: int = 32 * 2**20,
        keep_segments: int = 2,
        router: RouterLog | None = None,
    ) -> None:
        if segment_lines < 1 or segment_bytes < 1:
            raise ValueError("segment_lines and segment_bytes must be positive")
        if keep_segments < 2:
            raise ValueError("keep_segments must be at least 2 (the full one and the newest)")
        self.root = root
        self.segment_lines = segment_lines
        self.segment_bytes = segment_bytes
        self.keep_segments = keep_segments
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._heads: dict[str, _Head] = {}
        self._listeners: list[tuple[Listener, Wants | None]] = []
        self._gone: set[str] = set()  # destroyed apps: late lines for them are dropped
        self._rolled: dict[str, dict[int, int]] = {}  # app -> recent full segment -> lines
        self.router = router
        """The router's lines, kept apart by nginx (merged into what :meth:`tail` and
        :meth:`follow` return)."""
        self.on_drop: DropHook | None = None
        """Told how many lines a follower skipped because it fell behind (metrics)."""

    # -- writing ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener, wants: Wants | None = None) -> None:
        """Call ``listener(app, lines)`` after each append (of the apps ``wants``).

        Listeners run on the appending thread while the app's lock is held, so they see
        batches in order; they must return quickly and must not append to the same app.
        An exception from a listener is logged and otherwise ignored.
        """
        with self._guard:
            self._listeners = [*self._listeners, (listener, wants)]

    def append(self, app: str, lines: Sequence[LogLine]) -> None:
        """Add ``lines`` to the end of ``app``'s history, in one write, then tell listeners."""
        if lines:
            self.append_rendered(app, [line.render() for line in lines], lambda: lines)

    def append_rendered(
        self, app: str, rendered: list[str], lines: Callable[[], Sequence[LogLine]]
    ) -> None:
        """:meth:`append` for lines rendered already (``LogLine.render()`` each, one line
        each); ``lines()`` makes their :class:`LogLine` objects, only if a listener wants
        this app's (the router's access log: one line per request, rarely drained)."""
        if not rendered or app in self._gone:
            return
        directory = self._app_dir(app)
        data = ("\n".join(rendered) + "\n").encode("utf-8")
        made: Sequence[LogLine] | None = None
        with self._lock(app):
            head = self._heads.get(app)
            if head is None:
                head = self._open_head(directory)
                self._heads[app] = head
            if head.lines >= self.segment_lines or head.size >= self.segment_bytes:
                self._remember(app, head)
                head = self._roll(directory, head)
                self._heads[app] = head
            write_all(head.fd, data)
            head.lines += len(rendered)
            head.size += len(data)
            for listener, wants in self._listeners:
                if wants is not None and not wants(app):
                    continue
                try:
                    made = lines() if made is None else made
                    listener(app, made)
                except Exception:
                    log.exception("log listener %r failed for app %s", listener, app)

    def delete_app(self, app: str, *, gone: bool = False) -> None:
        """Forget ``app``'s history (a no-op when there is none). ``gone``: the app was
        destroyed, so lines still on their way for it (a router line, a dyno's last words)
        are dropped until an app of that name is made again (``gone=False``)."""
        directory = self._app_dir(app)
        with self._guard:
            if gone:
                self._gone.add(app)
            else:
                self._gone.discard(app)
        with self._lock(app):
            head = self._heads.pop(app, None)
            if head is not None:
                os.close(head.fd)
            shutil.rmtree(directory, ignore_errors=True)
        if self.router is not None:
            self.router.forget(app)

    def close(self) -> None:
        """Close the open segment files (appending again reopens them)."""
        with self._guard:
            apps = list(self._heads)
        for app in apps:
            with self._lock(app):
                head = self._heads.pop(app, None)
                if head is not None:
                    os.close(head.fd)

    def _open_head(self, directory: Path) -> _Head:
        """Continue the newest segment on disk, or start the first one."""
        _make_dir(self.root)
        _make_dir(directory)
        numbers = _segments(directory)
        if not numbers:
            return self._create(directory, 1)
        number = numbers[-1]
        fd = os.open(_segment(directory, number), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        lines, size, last = count_lines(fd)
        if size and last != b"\n":
            # A write was cut short (crash): end that line so the next one starts cleanly.
            write_all(fd, b"\n")
            lines, size = lines + 1, size + 1
        return _Head(number=number, fd=fd, lines=lines, size=size)

    def _remember(self, app: str, head: _Head) -> None:
        """Keep how many lines the last full segments held: a follower that falls so far
        behind that some are deleted before it reads them says how many it missed."""
        rolled = self._rolled.setdefault(app, {})
        rolled[head.number] = head.lines
        for number in [n for n in rolled if n < head.number - 64]:
            del rolled[number]

    def _lines_in(self, app: str, number: int) -> int:
        """Lines segment ``number`` held (``segment_lines`` if it was rolled before the
        platform started: segments roll at that count unless very long lines fill them)."""
        return self._rolled.get(app, {}).get(number, self.segment_lines)

    def _roll(self, directory: Path, head: _Head) -> _Head:
        """Start the segment after ``head`` and delete the ones beyond ``keep_segments``."""
        new = self._create(directory, head.number + 1)
        os.close(head.fd)
        for number in _segments(directory)[: -self.keep_segments]:
            _segment(directory, number).unlink(missing_ok=True)
        return new

    @staticmethod
    def _create(directory: Path, number: int) -> _Head:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        fd = os.open(_segment(directory, number), flags, 0o600)
        return _Head(number=number, fd=fd, lines=0, size=0)

    def _lock(self, app: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(app)
            if lock is None:
                lock = self._locks[app] = threading.Lock()
            return lock

    def _app_dir(self, app: str) -> Path:
        if not app or app in {".", ".."} or any(c in app for c in "/\\\x00"):
            raise InvalidName(f"Invalid app name for the log store: {app!r}")
        return self.root / app

    # -- reading ---------------------------------------------------------------------------

    def apps(self) -> list[str]:
        """The apps that have a history, sorted."""
        try:
            return sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        except FileNotFoundError:
            return []

    def tail(
        self, app: str, n: int, dyno: str | None = None, source: str | None = None
    ) -> list[str]:
        """The last ``n`` rendered lines that pass the filters, oldest first."""
        directory = self._app_dir(app)
        numbers = _segments(directory)
        if n <= 0:
            return []
        found = self._tail_before(directory, numbers, None, n, dyno, source) if numbers else []
        if self.router is not None and _routed(dyno, source):
            found = routerfiles.merge(found, self.router.tail(app, n))[-n:]
        return found

    def _tail_before(
        self,
        directory: Path,
        numbers: list[int],
        end: int | None,
        n: int,
        dyno: str | None,
        source: str | None,
    ) -> list[str]:
        """Like :meth:`tail`, reading backwards from byte ``end`` of the newest segment."""
        found: list[str] = []
        for number in reversed(numbers):
            for raw in lines_backwards(_segment(directory, number), end):
                text = raw.decode("utf-8", errors="replace")
                if _keep(text, dyno, source):
                    found.append(text)
                    if len(found) >= n:
                        return found[::-1]
            end = None
        return found[::-1]

    def follow(
        self,
        app: str,
        *,
        lines: int = 0,
        dyno: str | None = None,
        source: str | None = None,
        idle: float = 1.0,
        poll: float = 0.05,
    ) -> Generator[list[str], None, None]:
        """Yield the last ``lines`` matching lines (when ``lines > 0``), then new ones as
        they arrive, in batches; yield ``[]`` after ``idle`` seconds with nothing to show.

        The starting point is fixed when ``follow`` is called, not at the first ``next``.
        Never ends by itself: the caller stops iterating (and should close the generator).
        """
        directory = self._app_dir(app)
        numbers = _segments(directory)
        cursor = _Cursor(directory, numbers[-1] if numbers else 0, 0)
        cursor.lines_in = lambda number: self._lines_in(app, number)
        if numbers:
            cursor.seek_last_complete()
            cursor.open()
        routed = None
        if self.router is not None and _routed(dyno, source):
            routed = self.router.cursor([app])
        first = None
        if lines > 0:
            first = self._tail_before(directory, numbers, cursor.offset, lines, dyno, source)
            if routed is not None and self.router is not None:
                first = routerfiles.merge(first, self.router.tail(app, lines, routed.start))
                first = first[-lines:]

        def dropped(count: int) -> None:
            if self.on_drop is not None:
                self.on_drop(app, "tail", count)

        return _follow((cursor, routed), first, (dyno, source), (idle, poll), dropped)


def _follow(
    cursors: tuple[_Cursor, RouterCursor | None],
    first: list[str] | None,
    filters: tuple[str | None, str | None],
    timing: tuple[float, float],
    dropped: Callable[[int], None],
) -> Generator[list[str], None, None]:
    (cursor, routed), (dyno, source), (idle, poll) = cursors, filters, timing
    try:
        if first is not None:
            yield first
        last = time.monotonic()
        while True:
            fresh = cursor.read()
            if cursor.dropped:  # fell behind by whole segments: say so, as logplex does
                dropped(cursor.dropped)
                yield [overflow(cursor.dropped, cursor.dropped_since).render()]
                cursor.dropped = 0
            requests = routerfiles.rendered([raw for _, raw in routed.read()]) if routed else []
            if fresh is None and not requests:
                if time.monotonic() - last >= idle:
                    last = time.monotonic()
                    yield []
                time.sleep(poll)
                continue
            batch = [t for t in fresh or () if t and _keep(t, dyno, source)]
            batch = sorted(batch + requests, key=lambda t: t[:32]) if requests else batch
            if batch:
                last = time.monotonic()
                yield batch
    finally:
        cursor.close()
        if routed is not None:
            routed.close()


def _routed(dyno: str | None, source: str | None) -> bool:
    """Whether router lines pass the filters (their source and process are ``router``)."""
    return source in (None, "router") and dyno in (None, "router")


class _Cursor:
    """A reading position in an app's segments: segment number and byte offset."""

    def __init__(self, directory: Path, number: int, offset: int) -> None:
        self.directory = directory
        self.number = number
        self.offset = offset
        self._file: BinaryIO | None = None
        self.lines_in: Callable[[int], int] = lambda number: 0
        self.dropped = 0  # lines of segments deleted before this cursor reached them
        self.dropped_since = datetime.now(UTC)

    def seek_last_complete(self) -> None:
        """Move to just after the last complete line of the current segment."""
        path = _segment(self.directory, self.number)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        self.offset = complete_end(path, size)

    def read(self) -> list[str] | None:
        """The complete lines after the cursor (possibly from newer segments); None if none."""
        while True:
            if self._file is None and not self.open():
                return self._advance()
            assert self._file is not None
            data = self._file.read()
            if data:
                cut = data.rfind(b"\n") + 1
                if cut < len(data):
                    self._file.seek(self.offset + cut)
                self.offset += cut
                if cut:
                    return data[:cut].decode("utf-8", errors="replace").split("\n")[:-1]
            # At the end of this segment: it is final only once a newer one exists.
            if not _segments_after(self.directory, self.number):
                if self._recreated():
                    continue
                return None
            rest = self._file.read()
            if b"\n" in rest:
                self._file.seek(self.offset)
                continue
            self._step()
            if rest:  # a final segment ending mid-line (cut short): keep what is there
                return [rest.decode("utf-8", errors="replace")]

    def _recreated(self) -> bool:
        """If the app was deleted and its history started again, move to its first segment."""
        assert self._file is not None
        if os.fstat(self._file.fileno()).st_nlink > 0:
            return False
        numbers = _segments(self.directory)
        if not numbers:
            return False
        self.close()
        self.number, self.offset = numbers[0], 0
        return True

    def open(self) -> bool:
        """Open the current segment at the offset; False if it is not there."""
        try:
            self._file = open(_segment(self.directory, self.number), "rb")
        except FileNotFoundError:
            return False
        self._file.seek(self.offset)
        return True

    def _advance(self) -> list[str] | None:
        """The current segment is gone or not there yet: go to the next existing one."""
        if _segments_after(self.directory, self.number):
            if self.number and self.offset == 0:  # deleted before it could be opened
                self._skipped(self.lines_in(self.number))
            self._step()
            return self.read()
        return None

    def _step(self) -> None:
        later = _segments_after(self.directory, self.number)
        self.close()
        if self.number:
            self._skipped(sum(self.lines_in(n) for n in range(self.number + 1, later[0])))
        self.number, self.offset = later[0], 0

    def _skipped(self, count: int) -> None:
        if count and not self.dropped:
            self.dropped_since = datetime.now(UTC)
        self.dropped += count

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _keep(text: str, dyno: str | None, source: str | None) -> bool:
    if dyno is None and source is None:
        return True
    line = parse(text)
    return line is not None and matches(line, dyno, source)


def _segment(directory: Path, number: int) -> Path:
    return directory / f"{number:08d}{_SUFFIX}"


def _segments(directory: Path) -> list[int]:
    """The segment numbers present in ``directory``, ascending."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    numbers = [int(name[:-4]) for name in names if name.endswith(_SUFFIX) and name[:-4].isdigit()]
    return sorted(numbers)


def _segments_after(directory: Path, number: int) -> list[int]:
    return [n for n in _segments(directory) if n > number]


def _make_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
