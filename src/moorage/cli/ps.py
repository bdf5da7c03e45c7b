"""ps, ps:scale, ps:port."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import dynos as api
from moorage.client.formation import update
from moorage.errors import InvalidParams
from moorage.schemas.releases import Dyno, FormationUpdate
from moorage.spec.status import DynoState


def _state(d: Dyno) -> str:
    state = str(d.state)
    if state == DynoState.CRASHED and d.oom_killed:
        return "crashed (out of memory, R14)"
    if d.exit_code is not None and state in (DynoState.CRASHED, DynoState.DOWN):
        return f"{state} (exit {d.exit_code})"
    return state


def _node(d: Dyno) -> str:
    """The swarm node it runs on ("" on one host): an extra key of the answer."""
    return str((d.model_extra or {}).get("node") or "")


@cli.command("ps")
@app_option
@json_option
def ps(app: str, as_json: bool) -> None:
    """List the app's dynos: up, starting (booting, not yet routed), crashed or down."""
    dynos = api.dynos(client(), app)
    if as_json:
        print_json([d.model_dump(mode="json") for d in dynos])
        return
    rows: list[tuple[object, ...]] = [
        (d.name, d.size, _state(d), f"v{d.release.version}", d.updated_at, d.command or "")
        for d in dynos
    ]
    headers = ["dyno", "size", "state", "release", "since", "command"]
    if any(_node(d) for d in dynos):  # the swarm runtime: where each dyno runs
        headers.insert(3, "node")
        rows = [(*r[:3], _node(d), *r[3:]) for r, d in zip(rows, dynos, strict=True)]
    table(headers, rows)


def _parse_scale(args: tuple[str, ...]) -> list[FormationUpdate]:
    updates: list[FormationUpdate] = []
    for arg in args:
        ptype, sep, rest = arg.partition("=")
        qty, _, size = rest.partition(":")
        if not sep or not qty.isdigit():
            raise InvalidParams(f"{arg!r} is not TYPE=QUANTITY[:SIZE] (e.g. web=2).")
        updates.append(FormationUpdate(type=ptype, quantity=int(qty), size=size or None))
    return updates


@cli.command("ps:scale")
@click.argument("changes", nargs=-1, required=True)
@app_option
@json_option
def ps_scale(changes: tuple[str, ...], app: str, as_json: bool) -> None:
    """Scale process types: web=2 worker=1 (TYPE=N[:SIZE])."""
    result = update(client(), app, _parse_scale(changes))
    if as_json:
        print_json([f.model_dump(mode="json") for f in result])
        return
    out.print(
        "Scaling dynos... done, now running "
        + ", ".join(f"{f.type} at {f.quantity}" for f in result)
    )


@cli.command("ps:port")
@click.argument("ptype")
@click.argument("port", type=click.IntRange(1, 65535))
@app_option
def ps_port(ptype: str, port: int, app: str) -> None:
    """Declare the port PTYPE listens on when its image ignores $PORT (e.g. `flask run`: 5000)."""
    update(client(), app, [FormationUpdate(type=ptype, port=port)])
    out.print(f"{ptype} dynos of [bold]{app}[/bold] listen on port {port}; PORT is set to it.")


@cli.command("ps:restart")
@click.argument("target", required=False)
@app_option
def ps_restart(target: str | None, app: str) -> None:
    """Restart all dynos, one process type (web) or one dyno (web.2), without downtime."""
    api.restart(client(), app, target)
    out.print(f"Restarting {target or 'all'} dynos of [bold]{app}[/bold]... done")


@cli.command("ps:stop")
@click.argument("dyno")
@app_option
def ps_stop(dyno: str, app: str) -> None:
    """Stop a dyno (web.1, run.3). A formation dyno is replaced by a fresh one."""
    api.stop(client(), app, dyno)
    out.print(f"Stopping {dyno} of [bold]{app}[/bold]... done")


@cli.command("ps:resize")
@click.argument("changes", nargs=-1, required=True)
@app_option
@json_option
def ps_resize(changes: tuple[str, ...], app: str, as_json: bool) -> None:
    """Set dyno sizes: web=standard-2x worker=basic (memory and CPU limits, see `moor info`)."""
    updates = []
    for arg in changes:
        ptype, sep, size = arg.partition("=")
        if not sep or not size:
            raise InvalidParams(f"{arg!r} is not TYPE=SIZE (e.g. web=standard-2x).")
        updates.append(FormationUpdate(type=ptype, size=size))
    result = update(client(), app, updates)
    if as_json:
        print_json([f.model_dump(mode="json") for f in result])
        return
    out.print(", ".join(f"{f.type} dynos are now {f.size}" for f in result))


cli.add_command(ps_resize, "ps:type")


@cli.command("ps:check")
@click.argument("ptype")
@click.option("--path", "check_path", default=None, help="HTTP path that answers < 400 when ready.")
@click.option("--tcp", is_flag=True, help="Check only that the port accepts connections.")
@click.option("--timeout", type=click.IntRange(1, 3600), default=None, help="Boot timeout, s.")
@app_option
def ps_check(ptype: str, check_path: str | None, tcp: bool, timeout: int | None, app: str) -> None:
    """Set how new PTYPE dynos prove they are ready before they get traffic."""
    change = FormationUpdate(type=ptype, boot_timeout=timeout)
    if tcp or check_path is not None:
        change.check_path = "" if tcp else check_path
    (f,) = update(client(), app, [change])
    how = f"GET {f.check_path}" if f.check_path else "a TCP connect to $PORT"
    out.print(f"{ptype} dynos are ready after {how}, within {f.boot_timeout or 60}s.")
