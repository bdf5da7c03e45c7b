"""Feeding each app's log stream: dyno output, the router's access log, platform events.

- :class:`PlatformLog` writes the platform's own lines (``moorage[api]: Release v7 created``).
- :class:`DynoLogPump` follows every dyno's output through the runtime (Docker keeps it in
  json-file logs, so nothing is lost while ``moor server`` is down: on restart each follower
  resumes after the last line it stored, kept in ``cursors.json``). Followers are tasks on
  one event loop, not a thread per dyno.
- :class:`RouterFeed` hands the router's lines (nginx's access log) to the drains of apps
  that have one; the log store reads the others' only when someone asks.

Lines reach :class:`moorage.logs.store.LogStore` in batches from one writer thread, so a dyno
writing as fast as it can costs one file write per batch, not per line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from moorage.logs.format import LogLine, split_message
from moorage.logs.routerfiles import RouterCursor, RouterLog, line_object
from moorage.logs.store import LogStore
from moorage.spec.dyno import Dyno
from moorage.spec.status import DynoState

log = logging.getLogger("moorage.logs")


_MARGIN_NS = 1_000_000


class PlatformLog:
    """The platform's own lines: ``moorage[<process>]: message``."""

    def __init__(self, store: LogStore) -> None:
        self.store = store

    def emit(self, app: str, process: str, message: str) -> None:
        now = datetime.now(UTC)
        lines = [LogLine(now, "moorage", process, m) for m in split_message(message)]
        try:
            self.store.append(app, lines)
        except OSError:
            log.exception("cannot write the log of %s", app)


def parse_docker_time(ts: str) -> tuple[float, int]:
    """``2026-11-26T10:00:00.123456789Z`` -> (epoch seconds, nanoseconds as an int key)."""
    head, _, frac = ts.rstrip("Z").partition(".")
    base = _epoch(head)
    if base is None:
        now = datetime.now(UTC).timestamp()
        return now, int(now * 1e9)
    nanos = int((frac + "000000000")[:9]) if frac.isdigit() else 0
    return base + nanos / 1e9, base * 1_000_000_000 + nanos


@functools.lru_cache(maxsize=64)
def _epoch(head: str) -> int | None:
    """``2026-11-26T10:00:00`` -> epoch seconds (a fast writer's lines share a few: cached)."""
    try:
        return int(datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


class DynoOutput(Protocol):
    """Where dyno output comes from: the sessions component (``Runtime.log_stream``)."""

    def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]: ...


class DynoLogPump:
    """One follower task per running dyno, all on one event loop thread; a single writer
    thread appends batches to the store."""

    def __init__(self, output: DynoOutput, store: LogStore, state_dir: Path) -> None:
        self.output = output
        self.store = store
        self._cursor_file = state_dir / "cursors.json"
        # container id -> (timestamp key, how many lines carried that timestamp): the parts
        # of a line over 16 KB share the first part's timestamp
        self._cursors: dict[str, tuple[int, int]] = self._load()
        self._followers: dict[str, Future[None]] = {}
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str, LogLine, tuple[int, int]]] = queue.Queue(
            maxsize=50_000
        )
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True, name="log-follow").start()
        self._writer = threading.Thread(target=self._write_loop, daemon=True, name="log-writer")
        self._writer.start()

    def _load(self) -> dict[str, tuple[int, int]]:
        try:
            raw = json.loads(self._cursor_file.read_text())
            return {str(k): (int(v[0]), int(v[1])) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            return {}

    def _save(self) -> None:
        with self._save_lock:  # the writer thread and flush() both save
            with self._lock:
                data = json.dumps(self._cursors)
            tmp = self._cursor_file.with_suffix(".tmp")
            tmp.write_text(data)
            os.replace(tmp, self._cursor_file)

    def sync(self, dynos: list[Dyno]) -> None:
        """Follow every running dyno not followed yet (called after each reconcile pass)."""
        present = {d.id for d in dynos}
        with self._lock:
            for d in dynos:
                task = self._followers.get(d.id)
                if d.attached or (task is not None and not task.done()):
                    continue
                if d.state not in (DynoState.UP, DynoState.STARTING) and d.id in self._done:
                    continue
                self._done.discard(d.id)
                self._followers[d.id] = asyncio.run_coroutine_threadsafe(
                    self._follow(d), self._loop
                )
            for gone in [i for i in self._followers if i not in present]:
                self._followers.pop(gone, None)
                self._cursors.pop(gone, None)
                self._done.discard(gone)

    def finished(self, d: Dyno) -> bool:
        """Every line of a stopped dyno is stored (the reconciler may remove it)."""
        with self._lock:
            return d.attached or d.id in self._done

    async def _follow(self, d: Dyno) -> None:
        """Read ``d``'s output until a pass from the cursor brings nothing new.

        Docker ends a following stream as soon as the container stops, whatever is still
        unread (a dyno that prints 200,000 lines and exits is cut off after about a second's
        worth), so after each stream ends the log is read again from the last stored line.
        """
        with self._lock:
            done = self._cursors.get(d.id, (0, 0))
        try:
            while True:
                last = await self._pass(d, done)
                if last <= done:
                    break
                done = last
        except Exception as exc:
            log.info("log stream of %s ended: %s", d.name, exc)
        with self._lock:
            self._done.add(d.id)

    async def _pass(self, d: Dyno, done: tuple[int, int]) -> tuple[int, int]:
        """Queue the lines after ``done`` from one log stream; the key of the last one."""
        process = d.label
        last, run, newest = 0, 0, done
        # from the last stored line's time (less a millisecond for the float's rounding), not
        # a second before it: a fast writer's whole output may lie within that second, and
        # each pass would read it all again (services take whole seconds anyway)
        since = max((done[0] - _MARGIN_NS) / 1e9, 0)
        async for ts, raw in self.output.log_stream(d.id, since=since):
            seconds, key = parse_docker_time(ts)
            last, run = key, (run + 1 if key == last else 1)
            if (key, run) <= done:
                continue  # stored already (an earlier pass, or before a server restart)
            newest = (key, run)
            when = datetime.fromtimestamp(seconds, UTC)
            for message in split_message(raw):
                await self._put((d.id, d.app, LogLine(when, "app", process, message), newest))
        return newest

    async def _put(self, item: tuple[str, str, LogLine, tuple[int, int]]) -> None:
        """Queue a line for the writer; while the queue is full, wait without holding up
        the other dynos' streams (they share this event loop)."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.01)

    def _write_loop(self) -> None:
        last_save = 0.0
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < 5000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            for _ in batch:
                self._queue.task_done()
            now = datetime.now(UTC).timestamp()
            if now - last_save > 1.0:
                self._save()
                last_save = now

    def _write(self, batch: list[tuple[str, str, LogLine, tuple[int, int]]]) -> None:
        by_app: dict[str, list[LogLine]] = {}
        for cid, app, line, key in batch:
            by_app.setdefault(app, []).append(line)
            with self._lock:
                self._cursors[cid] = max(key, self._cursors.get(cid, (0, 0)))
        for app, lines in by_app.items():
            try:
                self.store.append(app, lines)
            except OSError:
                log.exception("cannot write the log of %s", app)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued lines are written (tests, shutdown): taken from the queue is
        not enough, the writer may still be appending them."""
        deadline = datetime.now(UTC).timestamp() + timeout
        while self._queue.unfinished_tasks and datetime.now(UTC).timestamp() < deadline:
            self._stop.wait(0.02)
        self._save()

    def close(self) -> None:
        self.flush()
        self._stop.set()
        self._loop.call_soon_threadsafe(self._loop.stop)


class RouterFeed:
    """Hands the router's lines of apps with a drain to their drains, and keeps nginx's
    access log bounded (:mod:`moorage.logs.routerfiles`). One loop, a cursor per drained
    app (a regular expression over the log's new bytes), none for the others."""

    def __init__(
        self,
        files: RouterLog,
        drained: Callable[[], dict[str, float]],
        offer: Callable[[str, Sequence[LogLine]], None],
    ) -> None:
        self.files = files
        self.drained = drained
        self.offer = offer
        self._cursors: dict[str, RouterCursor] = {}

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        rotated = 0.0
        try:
            while not stop.wait(interval):
                self.step()
                if time.monotonic() - rotated > 10:
                    self.files.rotate()
                    rotated = time.monotonic()
        finally:
            for cursor in self._cursors.values():
                cursor.close()

    def step(self) -> None:
        """Offer what the drained apps' files gained since the last step."""
        wanted = self.drained()
        for app in [a for a in self._cursors if a not in wanted]:
            self._cursors.pop(app).close()
        for app in wanted:
            cursor = self._cursors.get(app)
            if cursor is None:  # from the drain's start: lines made before this step too
                cursor = self._cursors[app] = self.files.cursor([app], since=wanted[app])
            lines = [o for _, raw in cursor.read() if (o := line_object(raw)) is not None]
            if lines:
                try:
                    self.offer(app, lines)
                except Exception:
                    log.exception("cannot hand the router lines of %s to its drains", app)
