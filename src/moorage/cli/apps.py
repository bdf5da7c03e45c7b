"""apps, apps:create, apps:info, apps:destroy, apps:join, apps:leave."""

from __future__ import annotations

from typing import Any

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import apps as api
from moorage.errors import InvalidParams
from moorage.schemas.apps import App


@cli.command("apps")
@json_option
def apps_list(as_json: bool) -> None:
    """List your apps."""
    apps = api.apps(client())
    if as_json:
        print_json([a.model_dump(mode="json") for a in apps])
        return
    table(["name", "web url", "released"], [(a.name, a.web_url, a.released_at) for a in apps])


@cli.command("apps:create")
@click.argument("name")
@json_option
def apps_create(name: str, as_json: bool) -> None:
    """Create an app named NAME (lowercase letters, digits, dashes; 3-30 characters)."""
    app = api.create(client(), name)
    if as_json:
        print_json(app.model_dump(mode="json"))
        return
    out.print(f"Creating [bold]{app.name}[/bold]... done\n{app.web_url}")


@cli.command("apps:info")
@app_option
@json_option
def apps_info(app: str, as_json: bool) -> None:
    """Show an app's details."""
    # here, not at the top: `moor apps` starts without the add-on, release and volume shapes
    from moorage.client.addons import addons as addons_of
    from moorage.client.formation import formation as formation_of
    from moorage.client.volumes import volumes as volumes_of

    c = client()
    info = api.app(c, app)
    formation = [f.model_dump(mode="json") for f in formation_of(c, app)]
    addons = [a.model_dump(mode="json") for a in addons_of(c, app)]
    if as_json:
        print_json({**info.model_dump(mode="json"), "formation": formation, "addons": addons})
        return
    dynos = ", ".join(f"{f['type']}: {f['quantity']}" for f in formation) or "none"
    table(
        ["", ""],
        [
            ("Name", info.name),
            ("Owner", info.owner.email),
            ("Web URL", info.web_url or "none: private (internal_routing), in its group only"),
            ("Dynos", dynos),
            ("Add-ons", ", ".join(a["name"] for a in addons) or "none"),
            ("Group", _group_text(info)),
            ("Ports", ports_text(formation)),
            ("Volumes", _volumes_text([v.model_dump(mode="json") for v in volumes_of(c, app)])),
            ("Released", info.released_at),
        ],
    )


def ports_text(formation: list[dict[str, Any]]) -> str:
    """``web: 80 -> 8080, 8080`` (the group's port -> the port the process listens on)."""
    parts = []
    for f in formation:
        mapped = [f"{p['port']} -> {p['target_port']}" for p in f.get("ports") or []]
        own = [str(f["port"])] if f.get("port") else []
        if mapped or own:
            parts.append(f"{f['type']}: {', '.join(mapped + own)}")
    return "; ".join(parts) or "$PORT"


def _volumes_text(volumes: list[dict[str, Any]]) -> str:
    shown = [
        f"{v['name']} ({v['size_mb']} MB) at {v['path']} in {v['process_type']}"
        if v["process_type"]
        else f"{v['name']} ({v['size_mb']} MB, not mounted)"
        for v in volumes
    ]
    return ", ".join(shown) or "none"


def _group_text(info: App) -> str:
    ext = info.moorage
    if not ext.group:
        return "none"
    names = ", ".join([str(ext.internal_host), *ext.aliases])
    return f"{ext.group} (answers to {names})"


@cli.command("apps:update")
@app_option
@click.option(
    "--private/--public",
    "private",
    required=True,
    help="Private: off the router, reached only inside its group (Heroku's internal_routing).",
)
def apps_update(app: str, private: bool) -> None:
    """Make the app private or public."""
    info = api.set_private(client(), app, private)
    where = "inside its group only" if private else info.web_url
    out.print(f"{app} is {'private' if private else 'public'}: {where}")


@cli.command("apps:join")
@click.argument("group")
@app_option
@click.option("--alias", "aliases", multiple=True, help="Another name on the group network.")
@json_option
def apps_join(group: str, app: str, aliases: tuple[str, ...], as_json: bool) -> None:
    """Put the app in GROUP: its apps reach this app's web dynos on a private network as
    http://APP.internal:PORT and by each --alias (say, a Kubernetes Service name)."""
    info = api.join(client(), app, group, list(aliases))
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    out.print(f"{app} is in group {group}, answering to {_group_text(info)}; dynos restart.")


@cli.command("apps:leave")
@app_option
def apps_leave(app: str) -> None:
    """Take the app out of its group (its dynos leave the private network)."""
    api.leave(client(), app)
    out.print(f"{app} left its group; dynos restart.")


@cli.command("apps:destroy")
@app_option
@click.option("--confirm", default=None, help="The app name again, to confirm.")
@json_option
def apps_destroy(app: str, confirm: str | None, as_json: bool) -> None:
    """Destroy an app: its dynos, network, images, add-ons and routes."""
    if confirm != app:
        raise InvalidParams(f"This deletes {app} and all its data. Confirm with --confirm {app}.")
    deleted = api.destroy(client(), app)
    if as_json:
        print_json(deleted.model_dump(mode="json"))
        return
    out.print(f"Destroying [bold]{app}[/bold]... done")
