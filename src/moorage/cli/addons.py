"""addons, addons:create."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table


@cli.command("addons")
@app_option
@json_option
def addons_list(app: str, as_json: bool) -> None:
    """List the app's add-ons."""
    addons = client().addons(app)
    if as_json:
        print_json(addons)
        return
    table(
        ["name", "plan", "config vars"],
        [(a["name"], a["plan"]["name"], ", ".join(a["config_vars"])) for a in addons],
    )


@cli.command("addons:create")
@click.argument("plan")
@app_option
@json_option
def addons_create(plan: str, app: str, as_json: bool) -> None:
    """Provision an add-on (postgresql) and attach it to the app."""
    addon = client().addon_create(app, plan)
    if as_json:
        print_json(addon)
        return
    out.print(
        f"Creating [bold]{addon['name']}[/bold] on {app}... done; "
        f"{', '.join(addon['config_vars'])} set (new release)."
    )
