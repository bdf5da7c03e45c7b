"""The router's lines: nginx writes a file per app; the log store merges them into an app's
history and tails only when asked, and drains get the lines of the apps that have one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from moorage.logs.format import LogLine
from moorage.logs.routerfiles import RouterFiles, line_object, render
from moorage.logs.store import LogStore
from moorage.server.logpump import RouterFeed

SHOP = [
    '1790000000.123 at=info method=GET path="/" status=200 bytes=6 protocol=http',
    '1790000002.9 at=error code=H10 desc="App crashed" method=GET status=503 bytes=0',
]


def _store(tmp_path: Path, max_bytes: int = 8 << 20) -> tuple[LogStore, RouterFiles]:
    files = RouterFiles(tmp_path / "router", max_bytes=max_bytes)
    files.directory.mkdir()
    return LogStore(tmp_path / "logs", router=files), files


def _write(files: RouterFiles, app: str, lines: list[str], *, path: Path | None = None) -> None:
    with (path or files.path(app)).open("a") as fh:  # as nginx does: whole lines, appended
        fh.write("".join(f"{line}\n" for line in lines))


def test_a_line_renders_as_its_line_object_would() -> None:
    line = line_object(SHOP[1])
    assert line is not None and line.source == "router" and line.process == "router"
    assert line.time.timestamp() == 1790000002.9 and line.message.startswith("at=error")
    assert render(SHOP[1]) == line.render()
    for junk in ("garbage", "17x.5 at=info", "1790000000.1", ""):
        assert render(junk) is None and line_object(junk) is None


def test_history_merges_the_router_lines_in_time_order(tmp_path: Path) -> None:
    store, files = _store(tmp_path)
    between = datetime.fromtimestamp(1790000001, UTC)  # the two router lines' times
    store.append("shop", [LogLine(between, "app", "web.1", "hi")])
    _write(files, "shop", SHOP)
    tail = store.tail("shop", 10)
    assert [t.split(" ", 2)[1] for t in tail] == [
        "moorage[router]:",
        "app[web.1]:",
        "moorage[router]:",
    ]
    assert store.tail("shop", 2)[0].endswith("hi")
    assert len(store.tail("shop", 10, source="router")) == 2
    assert len(store.tail("shop", 10, dyno="router")) == 2
    assert store.tail("shop", 10, source="app") == [tail[1]]
    assert store.tail("shop", 10, dyno="web") == [tail[1]]
    assert store.tail("cart", 10) == []
    store.delete_app("shop", gone=True)
    assert not files.path("shop").exists() and store.tail("shop", 10) == []


def test_a_tail_shows_what_nginx_writes_after_it_started_and_nothing_twice(
    tmp_path: Path,
) -> None:
    store, files = _store(tmp_path)
    _write(files, "shop", SHOP[:1])
    follower = store.follow("shop", lines=5, idle=0.05, poll=0.01)
    assert [t.split(": ", 1)[1] for t in next(follower)] == [SHOP[0].split(" ", 1)[1]]
    _write(files, "shop", SHOP[1:])
    batch = next(follower)
    assert len(batch) == 1 and "code=H10" in batch[0]
    follower.close()


def test_a_cursor_reads_on_across_a_move_without_losing_or_repeating(tmp_path: Path) -> None:
    _, files = _store(tmp_path, max_bytes=10)
    cursor = files.cursor("shop")  # no file yet: it starts with the first
    _write(files, "shop", SHOP[:1])
    assert cursor.read() == SHOP[:1]
    assert files.rotate() == ["shop"] and not files.path("shop").exists()
    moved = files.path("shop").with_name("shop.log.1")
    _write(files, "shop", ["1790000001.000 at=info late"], path=moved)  # nginx's old fd
    _write(files, "shop", SHOP[1:])  # nginx noticed and made a new file
    assert cursor.read() == ["1790000001.000 at=info late", SHOP[1]]
    assert cursor.read() == []
    assert [t.rsplit(" ", 1)[1] for t in files.tail("shop", 5)] == [
        "protocol=http",
        "late",
        "bytes=0",
    ]
    cursor.close()


def test_drains_get_the_lines_of_drained_apps_from_their_start(tmp_path: Path) -> None:
    _, files = _store(tmp_path)
    seen: dict[str, list[LogLine]] = {}

    def offer(app: str, lines: Sequence[LogLine]) -> None:
        seen.setdefault(app, []).extend(lines)

    _write(files, "cart", ["1789999999.000 at=info before the drain"])
    drained = {"cart": 1790000000.0}  # the drain started then
    feed = RouterFeed(files, lambda: dict(drained), offer)
    _write(files, "cart", SHOP)  # before the feed's first look, after the drain's start
    _write(files, "shop", SHOP)
    feed.step()
    assert list(seen) == ["cart"] and [line.message[:8] for line in seen["cart"]] == [
        "at=info ",
        "at=error",
    ]
    drained.clear()
    feed.step()
    _write(files, "cart", SHOP)
    feed.step()
    assert len(seen["cart"]) == 2
