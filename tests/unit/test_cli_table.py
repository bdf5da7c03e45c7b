"""`moor`'s tables: rich lays out small ones; big ones are padded by hand the same way."""

import pytest

from moorage.cli import base


def test_a_long_table_is_laid_out_like_a_short_one(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("a-1", "https://a-1.example/", None), ("bbbbbb", "u", "2026-12-06T17:00:00Z")]
    base.table(["name", "web url", "released"], rows)
    by_rich = capsys.readouterr().out
    base._plain_table(["name", "web url", "released"], [[a, b, c or ""] for a, b, c in rows])
    assert capsys.readouterr().out == by_rich


def test_more_rows_than_rich_is_asked_to_lay_out(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(f"app-{i}", f"https://app-{i}.example/") for i in range(base.PLAIN_ROWS + 1)]
    base.table(["name", "web url"], rows)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == base.PLAIN_ROWS + 2
    assert lines[0].split() == ["name", "web", "url"]
    assert lines[-1].split() == [
        f"app-{base.PLAIN_ROWS}",
        f"https://app-{base.PLAIN_ROWS}.example/",
    ]
