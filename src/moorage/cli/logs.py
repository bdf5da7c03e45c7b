"""logs: the app's one ordered stream (app output, router, platform events)."""

from __future__ import annotations

import sys

import click

from moorage.cli.base import app_option, cli, client
from moorage.client.logs import session, stream_lines


@cli.command("logs")
@app_option
@click.option(
    "-n", "--num", "lines", type=click.IntRange(0, 10_000), default=100, show_default=True
)
@click.option("-t", "--tail", is_flag=True, help="Keep streaming new lines.")
@click.option("-d", "--dyno", default=None, help="Only this dyno (web.1) or process type (web).")
@click.option(
    "-s",
    "--source",
    type=click.Choice(["app", "router", "moorage"]),
    default=None,
    help="app: dyno output; router: requests; moorage: platform events.",
)
def logs(app: str, lines: int, tail: bool, dyno: str | None, source: str | None) -> None:
    """Show the app's log: `TIMESTAMP app[web.1]: line`, router and platform lines."""
    opened = session(client(), app, lines=lines, tail=tail, dyno=dyno, source=source)
    write = sys.stdout.write  # plain writes: a tail keeps up with 10,000+ lines/s
    try:
        for line in stream_lines(opened.logplex_url):
            if line:
                write(line + "\n")
                if tail:
                    sys.stdout.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        return
