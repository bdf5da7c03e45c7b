"""The ``moor`` command group, its error handling and output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from moorage.client import credentials
from moorage.client.api import Client
from moorage.errors import MoorageError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class MoorGroup(click.Group):
    """Turns every MoorageError into one clear line on stderr and the error's exit code."""

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
    return Client(credentials.load())


def app_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-a", "--app", "app", required=True, help="The app to act on.")(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(show_edge=False, box=None, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    out.print(t)
