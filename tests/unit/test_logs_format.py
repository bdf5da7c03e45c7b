from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from moorage.logs.format import LogLine, matches, parse, split_message

T = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)


def test_render_heroku_style() -> None:
    assert LogLine(T, "app", "web.1", "hello").render() == (
        "2026-11-26T10:00:00.123456+00:00 app[web.1]: hello"
    )
    assert LogLine(T, "router", "router", "at=info").render().endswith(" moorage[router]: at=info")
    assert LogLine(T, "moorage", "release", "v3").render().endswith(" moorage[release]: v3")


def test_render_converts_to_utc_and_keeps_one_line() -> None:
    cet = T.astimezone(timezone(timedelta(hours=1)))
    line = LogLine(cet, "app", "web.1", "a\nb\rc")
    assert line.render() == "2026-11-26T10:00:00.123456+00:00 app[web.1]: a\ufffdb\ufffdc"


@pytest.mark.parametrize(
    "line",
    [
        LogLine(T, "app", "web.1", "hello"),
        LogLine(T, "app", "worker.12", ""),
        LogLine(T, "app", "run.3", "  spaces: and [brackets]: \t tab"),
        LogLine(T, "router", "router", 'at=info method=GET path="/"'),
        LogLine(T, "moorage", "api", "Scaled to web@2"),
        LogLine(T.replace(microsecond=0), "app", "web.1", "ünïcödé ✓ 🚀"),
    ],
)
def test_parse_inverts_render(line: LogLine) -> None:
    assert parse(line.render()) == line
    assert parse(line.render() + "\n") == line


@pytest.mark.parametrize(
    "text",
    ["", "hello", "2026-11-26T10:00:00 app[web.1]: no zone", "2026-11-26T10:00:00Z web[1]: x"],
)
def test_parse_rejects_other_text(text: str) -> None:
    assert parse(text) is None


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert split_message(b"ok \xff\xfe done\n") == ["ok \ufffd\ufffd done"]


def test_newlines_split_and_empty_lines_kept() -> None:
    assert split_message(b"") == []
    assert split_message(b"\n") == [""]
    assert split_message(b"one\r\n\ntwo\n") == ["one", "", "two"]
    assert split_message("no newline") == ["no newline"]


def test_control_characters() -> None:
    assert split_message(b"\x1b[32mgreen\x1b[0m plain") == ["green plain"]
    assert split_message(b"a\tb\x00c\x07d\x7fe\rf") == ["a\tb\ufffdc\ufffdd\ufffde\ufffdf"]
    assert split_message("c1\x85x") == ["c1\ufffdx"]


def test_megabyte_line_is_split_not_dropped() -> None:
    raw = "".join(chr(ord("a") + i % 26) for i in range(2**20))
    parts = split_message(raw.encode() + b"\n")
    assert len(parts) > 1
    assert all(len(p.encode()) <= 10_240 for p in parts)
    assert "".join(parts) == raw


def test_multibyte_characters_never_cut() -> None:
    raw = "é🚀" * 50_000 + "x"
    for limit in (4, 5, 7, 10_240):
        parts = split_message(raw, limit=limit)
        assert all(0 < len(p.encode()) <= limit for p in parts)
        assert "".join(parts) == raw
        assert "\ufffd" not in "".join(parts)


def test_limit_below_one_character_is_refused() -> None:
    with pytest.raises(ValueError):
        split_message("x", limit=3)


def test_matches_dyno_and_source() -> None:
    web1 = LogLine(T, "app", "web.1", "")
    web12 = LogLine(T, "app", "web.12", "")
    webby = LogLine(T, "app", "webby.1", "")
    router = LogLine(T, "router", "router", "")
    assert matches(web1, None, None)
    assert matches(web1, "web", None) and matches(web12, "web", None)
    assert not matches(webby, "web", None)
    assert matches(web1, "web.1", None) and not matches(web12, "web.1", None)
    assert matches(router, "router", None) and matches(router, None, "router")
    assert not matches(web1, None, "router") and matches(web1, "web", "app")
    assert not matches(router, None, "moorage")
