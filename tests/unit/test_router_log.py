"""The router's lines stay in nginx's access log; the log store merges an app's lines into
its history and tails only when asked, and drains get the lines of the apps that have one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from moorage.logs.format import LogLine
from moorage.logs.routerfiles import RouterLog, line_object, render
from moorage.logs.store import LogStore
from moorage.server.background.logpump import RouterFeed

SHOP = [
    '1790000000.123 shop at=info method=GET path="/" status=200 bytes=6 protocol=http',
    '1790000002.9 shop at=error code=H10 desc="App crashed" method=GET status=503 bytes=0',
]
NOISE = [
    "1790000000.500 - at=info method=GET status=404",  # an unknown host
    "1790000000.600 shopping at=info method=GET status=200",  # a name that starts the same
    "garbage",
    "17x.5 shop at=info status=200",
]


def _raw(line: str) -> str:
    """An access-log line without its app: what readers hand on."""
    msec, _, rest = line.partition(" ")
    return f"{msec} {rest.partition(' ')[2]}"


def _store(tmp_path: Path, max_bytes: int = 8 << 20) -> tuple[LogStore, RouterLog]:
    (tmp_path / "router").mkdir()
    moves: list[int] = []
    router = RouterLog(tmp_path / "router" / "access.log", max_bytes, lambda: moves.append(1))
    return LogStore(tmp_path / "logs", router=router), router


def _write(path: Path, lines: list[str]) -> None:
    with path.open("a") as fh:  # as nginx does: whole lines, appended
        fh.write("".join(f"{line}\n" for line in lines))


def test_a_line_renders_as_its_line_object_would() -> None:
    raw = _raw(SHOP[1])
    line = line_object(raw)
    assert line is not None and line.source == "router" and line.process == "router"
    assert line.time.timestamp() == 1790000002.9 and line.message.startswith("at=error")
    assert render(raw) == line.render()
    for junk in ("garbage", "17x.5 at=info", "1790000000.1", ""):
        assert render(junk) is None and line_object(junk) is None


def test_an_h10_line_names_no_dyno_as_heroku_s_router_does() -> None:
    raw = (
        r'1790000003.5 at=error code=H10 desc=\x22App crashed\x22 method=GET path="/" host=shop.x '
        'request_id=ab-1-1 fwd="10.0.0.9" dyno=unix:/var/lib/moorage/router/run/503.sock '
        "connect=0.000s service=0.001s status=503 bytes=0 protocol=http"
    )
    text = render(raw)
    line = line_object(raw)
    assert text is not None and line is not None
    assert " dyno= connect= service= status=503 " in text and "unix:" not in text
    assert 'code=H10 desc="App crashed" method=GET' in text
    assert line.message == text.split(": ", 1)[1]
    ok = "1790000003.6 at=info method=GET dyno=10.0.0.2:5000 connect=0.001s service=0.002s"
    assert "dyno=10.0.0.2:5000 connect=0.001s service=0.002s" in (render(ok) or "")


def test_history_merges_the_apps_router_lines_in_time_order(tmp_path: Path) -> None:
    store, router = _store(tmp_path)
    between = datetime.fromtimestamp(1790000001, UTC)  # the two router lines' times
    store.append("shop", [LogLine(between, "app", "web.1", "hi")])
    _write(router.path, [SHOP[0], *NOISE, SHOP[1]])
    tail = store.tail("shop", 10)
    assert [t.split(" ", 2)[1] for t in tail] == [
        "moorage[router]:",
        "app[web.1]:",
        "moorage[router]:",
    ]
    assert tail[0] == render(_raw(SHOP[0])) and store.tail("shop", 2)[0].endswith("hi")
    assert len(store.tail("shop", 10, source="router")) == 2
    assert len(store.tail("shop", 10, dyno="router")) == 2
    assert store.tail("shop", 10, source="app") == [tail[1]]
    assert store.tail("shop", 10, dyno="web") == [tail[1]]
    assert len(store.tail("shopping", 10)) == 1 and store.tail("cart", 10) == []


def test_a_destroyed_apps_lines_never_reach_the_names_next_owner(tmp_path: Path) -> None:
    store, router = _store(tmp_path)
    _write(router.path, SHOP)
    store.delete_app("shop", gone=True)
    assert store.tail("shop", 10) == []
    again = RouterLog(router.path)  # after a restart too
    assert again.tail("shop", 10) == []
    _write(router.path, ["9999999999.000 shop at=info the new owner's"])
    assert [t.rsplit(" ", 1)[1] for t in again.tail("shop", 10)] == ["owner's"]


def test_history_reaches_across_blocks_and_into_the_moved_file(tmp_path: Path) -> None:
    _, router = _store(tmp_path)
    many = [f"{1790000000 + i}.000 shop at=info n={i} {'x' * 200}" for i in range(12000)]
    _write(router.moved, many[:6000])
    _write(router.path, many[6000:])
    got = router.tail("shop", 7000)
    assert len(got) == 7000 and "n=5000 " in got[0] and "n=11999 " in got[-1]


def test_a_tail_shows_what_nginx_writes_after_it_started_and_nothing_twice(
    tmp_path: Path,
) -> None:
    store, router = _store(tmp_path)
    _write(router.path, SHOP[:1])
    follower = store.follow("shop", lines=5, idle=0.05, poll=0.01)
    assert next(follower) == [render(_raw(SHOP[0]))]
    _write(router.path, [*NOISE, SHOP[1]])
    batch = next(follower)
    assert len(batch) == 1 and "code=H10" in batch[0]
    follower.close()


def test_a_cursor_reads_on_across_a_move_without_losing_or_repeating(tmp_path: Path) -> None:
    _, router = _store(tmp_path, max_bytes=10)
    cursor = router.cursor(["shop"])  # no file yet: it starts with the first
    _write(router.path, SHOP[:1])
    assert cursor.read() == [("shop", _raw(SHOP[0]))]
    assert router.rotate() and not router.path.exists()
    _write(router.moved, ["1790000001.000 shop at=info late"])  # nginx before it reopened
    _write(router.path, SHOP[1:])  # and after
    assert cursor.read() == [("shop", "1790000001.000 at=info late"), ("shop", _raw(SHOP[1]))]
    assert cursor.read() == []
    assert [t.rsplit(" ", 1)[1] for t in router.tail("shop", 5)] == [
        "protocol=http",
        "late",
        "bytes=0",
    ]
    cursor.close()


def test_drains_get_the_lines_of_drained_apps_from_their_start(tmp_path: Path) -> None:
    _, router = _store(tmp_path)
    seen: dict[str, list[LogLine]] = {}

    def offer(app: str, lines: Sequence[LogLine]) -> None:
        seen.setdefault(app, []).extend(lines)

    _write(router.path, ["1789999999.000 cart at=info before the drain"])
    drained = {"cart": 1790000000.0}  # the drain started then
    feed = RouterFeed(router, lambda: dict(drained), offer)
    _write(router.path, [line.replace(" shop ", " cart ") for line in SHOP])  # before its look
    _write(router.path, SHOP)
    feed.step()
    assert list(seen) == ["cart"] and [line.message[:8] for line in seen["cart"]] == [
        "at=info ",
        "at=error",
    ]
    drained.clear()
    feed.step()
    _write(router.path, [line.replace(" shop ", " cart ") for line in SHOP])
    feed.step()
    assert len(seen["cart"]) == 2


def test_apps_forgotten_at_once_are_all_remembered(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, router = _store(tmp_path)
    names = [f"app{i}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:  # apps are made and destroyed in parallel
        list(pool.map(router.forget, names))
    assert set(RouterLog(router.path)._forgotten) == set(names)
