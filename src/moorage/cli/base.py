"""The ``moor`` command group, its error handling and output helpers."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from moorage.client import credentials
from moorage.errors import MoorageError

if TYPE_CHECKING:
    from moorage.client.api import Client

_WIDTH = shutil.get_terminal_size((160, 24)).columns
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)


class MoorGroup(click.Group):
    """Turns every MoorageError into one clear line on stderr and the error's exit code.

    ``lazy`` maps command names to ``module:attribute``, or to a module that registers the
    command on this group when imported; either is imported only when the command runs, so
    that client commands start fast.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attr = self.lazy[cmd_name].partition(":")
            loaded = importlib.import_module(module)
            if attr:
                command: click.Command = getattr(loaded, attr)
                return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MoorageError as exc:
            err.print(f"[red]✖[/red] {exc.message}", markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)


@click.group(cls=MoorGroup)
@click.version_option(package_name="moorage", prog_name="moor")
def cli() -> None:
    """moor: a Heroku-style platform on your own hosts."""


def client() -> Client:
    from moorage.client.api import Client  # httpx loads only for commands that call the API

    return Client(credentials.load())


def app_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-a", "--app", "app", required=True, help="The app to act on.")(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


PLAIN_ROWS = 100


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns under a bold header. Beyond :data:`PLAIN_ROWS` rows the same layout is
    padded by hand: rich measured 0.28 s for `moor apps` with a thousand apps."""
    if len(rows) > PLAIN_ROWS:
        _plain_table(columns, [["" if v is None else str(v) for v in r] for r in rows])
        return
    t = Table(show_edge=False, box=None, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    out.print(t)


def _plain_table(columns: Sequence[str], rows: list[list[str]]) -> None:
    from rich.cells import cell_len

    widths = [max([cell_len(c), *(cell_len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        padded = (c + " " * (w - cell_len(c)) for c, w in zip(cells, widths, strict=True))
        return " " + "  ".join(padded) + " "

    out.print(line(columns), style="bold", markup=False, highlight=False, soft_wrap=True)
    click.echo("\n".join(line(r) for r in rows))
