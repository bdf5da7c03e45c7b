"""`moor`'s tables: padded by hand the way rich lays out a table without borders."""

import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table

from moorage.cli import base


def _by_rich(columns: list[str], rows: list[tuple[str, ...]]) -> str:
    t = Table(show_edge=False, box=None, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*r)
    console = Console(width=200, no_color=True, force_terminal=False)
    with console.capture() as captured:
        console.print(t)
    return captured.get()


def test_a_table_is_laid_out_as_rich_lays_it_out(capsys: pytest.CaptureFixture[str]) -> None:
    columns = ["name", "web url", "released"]
    rows = [("a-1", "https://a-1.example/", ""), ("bbbbbb", "u", "2026-12-06T17:00:00Z")]
    wide = [*rows, ("名前-app", "https://x.example/", "")]
    for shown in (rows, wide, []):
        base.table(columns, shown)
        assert capsys.readouterr().out == _by_rich(columns, shown)


def test_a_thousand_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(f"app-{i}", f"https://app-{i}.example/") for i in range(1000)]
    base.table(["name", "web url"], rows)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1001
    assert lines[0].split() == ["name", "web", "url"]
    assert lines[-1].split() == ["app-999", "https://app-999.example/"]


def test_a_table_of_plain_text_does_not_load_rich() -> None:
    code = (
        "import sys; from moorage.cli import base\n"
        "base.table(['name'], [('web',)])\n"
        "print([m for m in sys.modules if m.startswith('rich')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]"
