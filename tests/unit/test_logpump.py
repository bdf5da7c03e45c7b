"""The dyno log pump reads a stopped dyno's output to the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from moorage.logs.store import LogStore
from moorage.runtime.base import Runtime
from moorage.server.logpump import DynoLogPump
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

    def log_stream(self, dyno_id: str, since: float) -> Iterator[tuple[str, bytes]]:
        self.calls += 1
        return iter(self.lines[:300] if self.calls == 1 else self.lines)


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
