"""The dyno log pump reads a stopped dyno's output to the end."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

from moorage.logs.store import LogStore
from moorage.runtime.base import Runtime
from moorage.server.background.logpump import DynoLogPump
from moorage.spec.dyno import Dyno


class CutShortRuntime:
    """Docker ends a following log stream when the container stops, whatever is unread:
    the first stream stops after 300 of 1,000 lines; a later one has them all."""

    def __init__(self) -> None:
        self.calls = 0
        self.lines = [
            (f"2026-12-06T10:00:{i // 100:02d}.{i % 100:09d}Z", f"line {i}".encode())
            for i in range(1000)
        ]

    async def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        self.calls += 1
        for entry in self.lines[:300] if self.calls == 1 else self.lines:
            yield entry


def test_the_pump_reads_again_until_nothing_is_new(tmp_path: Path) -> None:
    runtime = CutShortRuntime()
    store = LogStore(tmp_path / "logs")
    pump = DynoLogPump(cast(Runtime, runtime), store, tmp_path)
    dyno = Dyno("c1", "a", "run", 1, 1, "f", "down", None, None, "2026-12-06T10:00:00Z", 0)
    pump.sync([dyno])
    deadline = time.monotonic() + 10
    while not pump.finished(dyno) and time.monotonic() < deadline:
        time.sleep(0.01)
    pump.flush()
    assert pump.finished(dyno)
    got = [t.rsplit(": ", 1)[1] for t in store.tail("a", 5000)]
    assert got == [f"line {i}" for i in range(1000)]  # none lost, none twice
    assert runtime.calls == 3  # cut short, the rest, nothing new
    pump.close()


class EndlessRuntime:
    """Each dyno says one line, then its stream stays open (a quiet, running dyno)."""

    async def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        yield ("2026-12-06T10:00:00.000000001Z", f"hello from {dyno_id}".encode())
        await asyncio.Event().wait()


def test_following_many_dynos_takes_no_thread_per_dyno(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    before = threading.active_count()
    pump = DynoLogPump(cast(Runtime, EndlessRuntime()), store, tmp_path)
    dynos = [
        Dyno(f"c{i}", f"app{i}", "web", 1, 1, "f", "up", None, None, "2026-12-06T10:00:00Z", 0)
        for i in range(300)
    ]
    pump.sync(dynos)
    deadline = time.monotonic() + 10
    while len(store.apps()) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(store.apps()) == 300  # every dyno is followed ...
    assert threading.active_count() <= before + 2  # ... by the event loop and the writer
    pump.close()
