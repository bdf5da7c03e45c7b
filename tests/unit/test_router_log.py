"""The router's access log becomes the apps' log lines without a line object per request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from moorage.logs.format import LogLine
from moorage.logs.store import LogStore
from moorage.server.logpump import RouterLogTail, _router_line

LINES = [
    '1790000000.123 shop at=info method=GET path="/" status=200 bytes=6 protocol=http',
    '1790000000.9 cart at=error code=H10 desc="App crashed" method=GET status=503 bytes=0',
    "1790000001.000 - at=info method=GET status=404",  # no app: an unknown host
    "garbage",
    "17x.5 shop at=info status=200",
]


def test_lines_render_as_line_objects_would(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_text("\n".join(LINES) + "\n")
    store = LogStore(tmp_path / "logs")
    tail = RouterLogTail(tmp_path / "access.log", store, lambda: None)
    assert tail._read(0) == len("\n".join(LINES)) + 1
    for app, raw in (("shop", LINES[0]), ("cart", LINES[1])):
        parsed = _router_line(raw)
        assert parsed is not None
        assert store.tail(app, 10) == [parsed[1].render()]
    assert sorted(store.apps()) == ["cart", "shop"]


def test_line_objects_are_made_only_for_apps_someone_wants(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_text("\n".join(LINES[:2]) + "\n")
    store = LogStore(tmp_path / "logs")
    seen: dict[str, Sequence[LogLine]] = {}

    def listener(app: str, lines: Sequence[LogLine]) -> None:
        seen[app] = lines

    store.add_listener(listener, lambda app: app == "cart")
    RouterLogTail(tmp_path / "access.log", store, lambda: None)._read(0)
    assert list(seen) == ["cart"]
    assert seen["cart"][0].source == "router" and "code=H10" in seen["cart"][0].message
    assert seen["cart"][0].time.timestamp() == 1790000000.9
