"""The ``moor`` command group, its error handling and output helpers."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import click

from moorage.client import credentials
from moorage.errors import MoorageError

if TYPE_CHECKING:
    from rich.console import Console

    from moorage.client.api import Client

_WIDTH = shutil.get_terminal_size((160, 24)).columns


class _LazyConsole:
    """A rich ``Console`` made at its first use: a command that prints only a table or
    plain lines (``moor apps``) does not import rich (20-55 ms at every start)."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, width=_WIDTH)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


out = cast("Console", _LazyConsole(stderr=False))
err = cast("Console", _LazyConsole(stderr=True))


def real_console(console: Console) -> Console:
    """The rich ``Console`` behind :data:`out` or :data:`err`, for rich objects that are
    given a console (a progress bar)."""
    lazy: object = console
    return lazy.made() if isinstance(lazy, _LazyConsole) else console


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


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns under a bold header (bold on a terminal only), padded by hand: rich's
    ``Table`` measured 0.28 s for `moor apps` with a thousand apps, and importing it is
    most of a small command's start."""
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max([_width(c), *(_width(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = (v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True))
        return " " + "  ".join(padded) + " "

    click.echo(click.style(line(columns), bold=True))
    if cells:
        click.echo("\n".join(line(r) for r in cells))


def _width(text: str) -> int:
    """Terminal cells ``text`` takes (a CJK character takes two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)
