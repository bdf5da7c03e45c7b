"""domains, domains:add, domains:remove."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table


@cli.command("domains")
@app_option
@json_option
def domains_list(app: str, as_json: bool) -> None:
    """The host names the router sends to the app."""
    rows = client().request("GET", f"/apps/{app}/domains")
    if as_json:
        print_json(rows)
        return
    table(
        ["hostname", "kind", "point it at (CNAME)"],
        [(d["hostname"], d["kind"], d["cname"] or "") for d in rows],
    )


@cli.command("domains:add")
@click.argument("hostname")
@app_option
@json_option
def domains_add(hostname: str, app: str, as_json: bool) -> None:
    """Route HOSTNAME to the app (point its DNS at this platform's router)."""
    d = client().request("POST", f"/apps/{app}/domains", {"hostname": hostname})
    if as_json:
        print_json(d)
        return
    out.print(f"Adding {d['hostname']} to {app}... done; point its DNS (CNAME) at {d['cname']}.")


@cli.command("domains:remove")
@click.argument("hostname")
@app_option
def domains_remove(hostname: str, app: str) -> None:
    """Stop routing HOSTNAME to the app."""
    client().request("DELETE", f"/apps/{app}/domains/{hostname}")
    out.print(f"Removing {hostname} from {app}... done")
