"""addons, addons:create, addons:info, addons:attach, addons:detach, addons:destroy."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import addons as api
from moorage.errors import InvalidParams
from moorage.schemas.addons import Addon
from moorage.schemas.releases import Release


def releases_note(made: list[Release]) -> str:
    return ", ".join(f"{r.app.name} v{r.version}" for r in made) or "no release"


def info_and_facts(app: str, addon: str, as_json: bool) -> tuple[Addon, dict[str, str]]:
    """The add-on's record and its server's facts; printed as JSON when ``as_json``."""
    c = client()
    info = api.addon(c, app, addon)
    facts = api.facts(c, app, addon)
    if as_json:
        print_json({**info.model_dump(mode="json"), "facts": facts})
    return info, facts


@cli.command("addons")
@app_option
@json_option
def addons_list(app: str, as_json: bool) -> None:
    """List the add-ons attached to the app (its own and others')."""
    addons = api.addons(client(), app)
    if as_json:
        print_json([a.model_dump(mode="json") for a in addons])
        return
    if not addons:
        out.print(f"{app} has no add-ons. Add one with `moor addons:create postgresql -a {app}`.")
        return
    rows = []
    for a in addons:
        atts = a.moorage.attachments
        here = ", ".join(x.config_var for x in atts if x.app == app)
        elsewhere = ", ".join(f"{x.app}::{x.name}" for x in atts if x.app != app)
        rows.append((a.name, a.plan.name, a.app.name, here, elsewhere or "-"))
    table(["name", "plan", "owner", "config vars", "also attached to"], rows)


@cli.command("addons:create")
@click.argument("plan")
@app_option
@click.option("--as", "as_name", default=None, help="Attachment name: sets NAME_URL.")
@click.option("--name", default=None, help="The add-on's name (default: generated).")
@click.option("--fork", default=None, metavar="DB", help="A copy of DB's data as of now.")
@click.option("--follow", default=None, metavar="DB", help="A read-only replica of DB.")
@click.option("--rollback", default=None, metavar="DB", help="DB's data at --to or --by.")
@click.option("--to", default=None, metavar="TIME", help="With --rollback: '2026-12-06 10:42+00'.")
@click.option("--by", default=None, metavar="DURATION", help="With --rollback: '3 hours'.")
@json_option
def addons_create(
    plan: str, app: str, as_name: str | None, name: str | None, as_json: bool, **origin: str
) -> None:
    """Provision an add-on (postgresql[:mini|standard-0|standard-2...], redis) and attach it.

    A standard-* database can start from another one's WAL archive: --fork DB (now),
    --rollback DB --to TIME or --by DURATION (a moment in its rollback window), or follow
    it (--follow DB, read-only, streaming). The source is never changed."""
    config: dict[str, str | bool] = {k: v for k, v in origin.items() if v is not None}
    addon = api.addon_create(client(), app, plan, as_name=as_name, name=name, config=config)
    if as_json:
        print_json(addon.model_dump(mode="json"))
        return
    out.print(
        f"Creating [bold]{addon.name}[/bold] on {app}... done; "
        f"{', '.join(addon.config_vars)} set (new release)."
    )


@cli.command("addons:info")
@click.argument("addon")
@app_option
@json_option
def addons_info(addon: str, app: str, as_json: bool) -> None:
    """An add-on's plan, owner, attachments and what its server reports."""
    info, facts = info_and_facts(app, addon, as_json)
    if as_json:
        return
    atts = info.moorage.attachments
    rows = [
        ("Name", info.name),
        ("Plan", info.plan.name),
        ("Owner", info.app.name),
        ("Attachments", ", ".join(f"{a.app}::{a.config_var}" for a in atts)),
        ("Created", info.created_at),
        *facts.items(),
    ]
    for key, value in rows:
        out.print(f"[bold]{key + ':':<14}[/bold] {value}")


@cli.command("addons:attach")
@click.argument("addon")
@app_option
@click.option("--as", "as_name", default=None, help="Attachment name: sets NAME_URL.")
@json_option
def addons_attach(addon: str, app: str, as_name: str | None, as_json: bool) -> None:
    """Attach an existing add-on to another app (sets its URL there, a new release)."""
    att = api.attach(client(), addon, app, as_name)
    if as_json:
        print_json(att.model_dump(mode="json"))
        return
    out.print(f"Attaching [bold]{addon}[/bold] to {app} as {att.name}_URL... done")


@cli.command("addons:detach")
@click.argument("addon")
@app_option
@json_option
def addons_detach(addon: str, app: str, as_json: bool) -> None:
    """Remove an add-on's config var from an app that does not own it (a new release)."""
    att = api.detach(client(), app, addon)
    if as_json:
        print_json(att.model_dump(mode="json"))
        return
    out.print(f"Detaching {att.name} ({att.addon.name}) from {app}... done")


@cli.command("addons:destroy")
@click.argument("addon")
@app_option
@click.option("--confirm", default=None, help="The app name again, to confirm.")
@click.option("--force", is_flag=True, help="Destroy it even while other apps use it.")
@json_option
def addons_destroy(addon: str, app: str, confirm: str | None, force: bool, as_json: bool) -> None:
    """Destroy an add-on and its data; refused while attached to other apps unless --force."""
    if confirm != app:
        raise InvalidParams(
            f"This destroys {addon} and all its data. Confirm with --confirm {app}."
        )
    info = api.addon_destroy(client(), app, addon, force=force)
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    out.print(f"Destroying [bold]{info.name}[/bold] on {app}... done")
