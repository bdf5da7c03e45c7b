"""ps, ps:scale, ps:port."""

from __future__ import annotations

from typing import Any

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.errors import InvalidParams


@cli.command("ps")
@app_option
@json_option
def ps(app: str, as_json: bool) -> None:
    """List the app's dynos."""
    dynos = client().dynos(app)
    if as_json:
        print_json(dynos)
        return
    rows = [
        (
            d["name"],
            d["state"] + (f" (exit {d['exit_code']})" if d.get("exit_code") is not None else ""),
            f"v{d['release']['version']}",
            d["created_at"],
        )
        for d in dynos
    ]
    table(["dyno", "state", "release", "since"], rows)


def _parse_scale(args: tuple[str, ...]) -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = []
    for arg in args:
        ptype, sep, rest = arg.partition("=")
        qty, _, size = rest.partition(":")
        if not sep or not qty.isdigit():
            raise InvalidParams(f"{arg!r} is not TYPE=QUANTITY[:SIZE] (e.g. web=2).")
        update: dict[str, Any] = {"type": ptype, "quantity": int(qty)}
        if size:
            update["size"] = size
        updates.append(update)
    return updates


@cli.command("ps:scale")
@click.argument("changes", nargs=-1, required=True)
@app_option
@json_option
def ps_scale(changes: tuple[str, ...], app: str, as_json: bool) -> None:
    """Scale process types: web=2 worker=1 (TYPE=N[:SIZE])."""
    result = client().formation_update(app, _parse_scale(changes))
    if as_json:
        print_json(result)
        return
    out.print(
        "Scaling dynos... done, now running "
        + ", ".join(f"{f['type']} at {f['quantity']}" for f in result)
    )


@cli.command("ps:port")
@click.argument("ptype")
@click.argument("port", type=click.IntRange(1, 65535))
@app_option
def ps_port(ptype: str, port: int, app: str) -> None:
    """Declare the port PTYPE listens on when its image ignores $PORT (e.g. `flask run`: 5000)."""
    client().formation_update(app, [{"type": ptype, "port": port}])
    out.print(f"{ptype} dynos of [bold]{app}[/bold] listen on port {port}; PORT is set to it.")
