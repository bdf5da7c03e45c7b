"""run, run:detached, ps:exec: commands in one-off dynos or inside a running dyno."""

from __future__ import annotations

import json
import os
import shlex
import sys

import click

from moorage.cli.base import app_option, cli, client, out
from moorage.client.dynos import attach_url, create, exec_url
from moorage.errors import InvalidParams


def _size_query() -> dict[str, str]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return {}
    return {"rows": str(size.lines), "cols": str(size.columns)}


def _exit(code: int) -> None:
    sys.stdout.flush()
    raise SystemExit(code)


@cli.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_option
@click.option("-s", "--size", default=None, help="Dyno size of the one-off (default basic).")
def run(command: tuple[str, ...], app: str, size: str | None) -> None:
    """Run COMMAND in a one-off dyno (run.N) with a terminal; it is removed afterwards."""
    from moorage.client.terminal import run_terminal

    c = client()
    dyno = create(c, app, shlex.join(command), attach=True, size=size)
    out.print(f"Running {' '.join(command)} on [bold]{app}[/bold]... up, {dyno.name}", style="dim")
    url = attach_url(c, app, dyno.name, _size_query())  # attach_url of the answer: heroku run's
    _exit(run_terminal(url, c.token or ""))


@cli.command("run:detached", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_option
@click.option("-s", "--size", default=None, help="Dyno size of the one-off (default basic).")
def run_detached(command: tuple[str, ...], app: str, size: str | None) -> None:
    """Run COMMAND in a one-off dyno in the background; its output goes to `moor logs`."""
    dyno = create(client(), app, shlex.join(command), attach=False, size=size)
    out.print(
        f"Running {' '.join(command)} on [bold]{app}[/bold]... up, {dyno.name}\n"
        f"Use `moor logs -a {app} --dyno {dyno.name}` to view the output."
    )


@cli.command("ps:exec", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@app_option
@click.option("-d", "--dyno", "dyno", default="web.1", show_default=True)
@click.option("--no-tty", is_flag=True, help="Plain pipes instead of a pseudo-terminal.")
def ps_exec(command: tuple[str, ...], app: str, dyno: str, no_tty: bool) -> None:
    """A shell (or COMMAND) inside a running dyno, through the API: no SSH, no Docker socket."""
    from moorage.client.terminal import run_terminal

    if "/" in dyno or not dyno:
        raise InvalidParams(f"{dyno!r} is not a dyno name like web.1.")
    c = client()
    query = {**_size_query(), "tty": "0" if no_tty else "1"}
    if command:
        query["command"] = json.dumps(list(command))
    url = exec_url(c, app, dyno, query)
    _exit(run_terminal(url, c.token or "", interactive=None if not no_tty else False))
