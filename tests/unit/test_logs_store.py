from __future__ import annotations

import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moorage.errors import InvalidName
from moorage.logs.format import LogLine, parse
from moorage.logs.store import LogStore

T = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def lines(start: int, count: int, process: str = "web.1", source: str = "app") -> list[LogLine]:
    return [LogLine(T, source, process, f"line {i}") for i in range(start, start + count)]


def messages(rendered: list[str]) -> list[str]:
    out = []
    for text in rendered:
        line = parse(text)
        assert line is not None, text
        out.append(line.message)
    return out


def test_append_and_tail_in_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    for i in range(0, 100, 10):
        store.append("myapp", lines(i, 10))
    assert messages(store.tail("myapp", 5)) == [f"line {i}" for i in range(95, 100)]
    assert len(store.tail("myapp", 1000)) == 100
    assert store.tail("myapp", 0) == []
    assert store.tail("other", 10) == []
    assert store.apps() == ["myapp"]


def test_permissions(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    store.append("myapp", lines(0, 1))
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "logs" / "myapp").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "logs" / "myapp" / "00000001.log").stat().st_mode) == 0o600


def test_rollover_keeps_last_segment_lines_and_bounds_disk(tmp_path: Path) -> None:
    store = LogStore(tmp_path, segment_lines=100)
    for i in range(0, 1050, 7):
        store.append("a", lines(i, 7))
    segments = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(segments) == 2
    assert segments[-1] > "00000009.log"
    kept = messages(store.tail("a", 10_000))
    assert len(kept) >= 100
    total = 1050 + (7 - 1050 % 7) % 7
    assert kept == [f"line {i}" for i in range(total - len(kept), total)]


def test_byte_cap_rolls_over(tmp_path: Path) -> None:
    store = LogStore(tmp_path, segment_lines=10**6, segment_bytes=1000)
    for i in range(200):
        store.append("a", lines(i, 1))
    assert len(list((tmp_path / "a").iterdir())) == 2
    assert sum(p.stat().st_size for p in (tmp_path / "a").iterdir()) < 2200


def test_tail_filters(tmp_path: Path) -> None:
    store = LogStore(tmp_path, segment_lines=50)
    for i in range(100):
        store.append("a", lines(i, 1, process=f"web.{i % 2 + 1}"))
        store.append("a", lines(i, 1, process="worker.1"))
        store.append("a", lines(i, 1, process="router", source="router"))
    web1 = store.tail("a", 10, dyno="web.1")
    assert len(web1) == 10 and all(" app[web.1]: " in t for t in web1)
    web = store.tail("a", 10, dyno="web")
    assert {parse(t).process for t in web} == {"web.1", "web.2"}  # type: ignore[union-attr]
    assert all(" moorage[router]: " in t for t in store.tail("a", 10, source="router"))
    assert len(store.tail("a", 10, dyno="worker", source="app")) == 10
    assert store.tail("a", 10, dyno="worker", source="router") == []
    assert messages(store.tail("a", 3, dyno="worker"))[-1] == "line 99"


def test_restart_continues_history(tmp_path: Path) -> None:
    first = LogStore(tmp_path, segment_lines=100)
    first.append("a", lines(0, 150))
    first.append("a", lines(150, 30))
    first.close()
    second = LogStore(tmp_path, segment_lines=100)
    second.append("a", lines(180, 30))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["00000001.log", "00000002.log"]
    second.append("a", lines(210, 50))  # segment 2 holds 60 lines: no rollover yet
    second.append("a", lines(260, 50))  # 110 lines now
    second.append("a", lines(310, 1))  # rolls over: 3 is new, 1 is deleted
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["00000002.log", "00000003.log"]
    assert messages(second.tail("a", 1000)) == [f"line {i}" for i in range(150, 311)]


def test_restart_after_a_cut_short_write(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("a", lines(0, 2))
    store.close()
    with open(tmp_path / "a" / "00000001.log", "ab") as f:
        f.write(b"2026-11-26T10:00:00.000000+00:00 app[web.1]: cut sh")
    assert messages(store.tail("a", 10)) == ["line 0", "line 1"]
    store.append("a", lines(2, 1))
    assert messages(store.tail("a", 10)) == ["line 0", "line 1", "cut sh", "line 2"]


def test_delete_app_and_name_guard(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("a", lines(0, 3))
    store.delete_app("a")
    assert store.apps() == [] and store.tail("a", 10) == []
    store.append("a", lines(3, 1))
    assert messages(store.tail("a", 10)) == ["line 3"]
    for bad in ("", "..", "a/b", "../x"):
        with pytest.raises(InvalidName):
            store.append(bad, lines(0, 1))


def test_listener_errors_do_not_break_append(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    seen: list[tuple[str, int]] = []

    def broken(app: str, batch: object) -> None:
        raise RuntimeError("boom")

    store.add_listener(broken)
    store.add_listener(lambda app, batch: seen.append((app, len(batch))))
    store.append("a", lines(0, 4))
    assert seen == [("a", 4)]
    assert len(store.tail("a", 10)) == 4


def follow_while_writing(
    store: LogStore, total: int, rate: float | None, max_lag: int | None = None
) -> list[str]:
    """Append ``total`` lines from a thread (``rate`` lines/s, or flat out) while following;
    with ``max_lag``, the writer waits while the follower has more than that many lines to
    catch up on (so a follower stalled by a loaded host is not overtaken by retention)."""
    store.append("a", lines(0, 10))
    follower = store.follow("a", lines=5, idle=30.0, poll=0.01)  # generous: loaded CI hosts
    assert messages(next(follower)) == [f"line {i}" for i in range(5, 10)]
    got: list[str] = []
    stop = threading.Event()

    def write() -> None:
        begin = time.monotonic()
        for i in range(10, 10 + total, 37):
            if rate is not None:
                time.sleep(max(0.0, begin + (i - 10) / rate - time.monotonic()))
            while max_lag is not None and (i - 10) - len(got) > max_lag:
                if stop.wait(0.001):  # the follower gave up: stop writing
                    return
            store.append("a", lines(i, min(37, 10 + total - i)))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(got) < total:
            batch = next(follower)
            assert batch, "idle before all lines arrived"
            got.extend(batch)
    finally:
        stop.set()
        writer.join()
        follower.close()
    return got


def test_follow_keeps_up_across_rollovers(tmp_path: Path) -> None:
    # Two 1000-line segments kept: a follower more than a segment behind would lose lines,
    # so the writer never gets more than half a segment ahead of what the follower yielded.
    store = LogStore(tmp_path, segment_lines=1000)
    total = 50_000
    got = follow_while_writing(store, total, rate=40_000, max_lag=500)
    assert messages(got) == [f"line {i}" for i in range(10, 10 + total)]
    assert len(list((tmp_path / "a").iterdir())) == 2


def test_follow_reads_across_many_segments(tmp_path: Path) -> None:
    store = LogStore(tmp_path, segment_lines=1000, keep_segments=100)
    total = 50_000
    got = follow_while_writing(store, total, rate=None)
    assert messages(got) == [f"line {i}" for i in range(10, 10 + total)]
    assert len(list((tmp_path / "a").iterdir())) > 40  # 1036-line segments


def test_follow_filters_and_idles(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    follower = store.follow("new-app", dyno="web", idle=0.2, poll=0.01)
    started = time.monotonic()
    assert next(follower) == []
    assert time.monotonic() - started > 0.15  # it waited out the idle time
    store.append("new-app", lines(0, 2, process="worker.1") + lines(2, 2, process="web.1"))
    batch = next(follower)
    assert messages(batch) == ["line 2", "line 3"]
    follower.close()


def test_follow_starts_at_the_end(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("a", lines(0, 3))
    follower = store.follow("a", idle=0.1, poll=0.01)
    store.append("a", lines(3, 1))
    assert messages(next(follower)) == ["line 3"]
    follower.close()


def test_follow_survives_delete_app(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("a", lines(0, 3))
    follower = store.follow("a", idle=0.1, poll=0.01)
    store.delete_app("a")
    assert next(follower) == []
    store.append("a", lines(3, 2))
    assert messages(next(follower)) == ["line 3", "line 4"]
    follower.close()


def test_a_destroyed_apps_late_lines_are_dropped_until_its_name_is_taken_again(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path)
    seen: list[str] = []
    store.add_listener(lambda app, batch: seen.append(app))
    store.append("a", lines(0, 2))
    store.delete_app("a", gone=True)
    store.append("a", lines(2, 3))  # a router line or a dyno's last words, late
    assert not (tmp_path / "a").exists() and store.tail("a", 10) == [] and seen == ["a"]
    store.delete_app("a")  # an app of that name is made again
    store.append("a", lines(5, 1))
    assert [x.split()[-1] for x in store.tail("a", 10)] == ["5"]


def test_a_follower_that_falls_behind_is_told_how_many_lines_it_missed(tmp_path: Path) -> None:
    # Segments of 100 lines, two kept: a follower that reads nothing while 1,000 lines are
    # written finishes the segment it holds open, then finds seven segments gone. It gets
    # Heroku's L10 line for exactly those 700 lines, and the platform's metrics hear of it.
    store = LogStore(tmp_path, segment_lines=100)
    drops: list[tuple[str, str, int]] = []
    store.on_drop = lambda app, consumer, n: drops.append((app, consumer, n))
    store.append("a", lines(0, 10))
    follower = store.follow("a", idle=0.05, poll=0.01)
    for i in range(10, 1010, 50):
        store.append("a", lines(i, 50))
    got: list[str] = []
    while len(got) < 301:
        got += next(follower)
    follower.close()
    notice = [t for t in got if "Error L10" in t]
    assert len(notice) == 1
    assert (
        " moorage[logplex]: Error L10 (output buffer overflow): 700 messages dropped since "
        in (notice[0])
    )
    shown = messages([t for t in got if t not in notice])
    assert shown == [f"line {i}" for i in [*range(10, 110), *range(810, 1010)]]
    assert drops == [("a", "tail", 700)]
