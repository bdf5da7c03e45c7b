"""access, access:add, access:remove: who besides the owner may use an app."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import access as api


@cli.command("access")
@app_option
@json_option
def access_list(app: str, as_json: bool) -> None:
    """The app's owner and collaborators."""
    rows = api.collaborators(client(), app)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table(["email", "role"], [(r.user.email, r.role) for r in rows])


@cli.command("access:add")
@click.argument("email")
@app_option
def access_add(email: str, app: str) -> None:
    """Let EMAIL deploy, configure and scale the app (only the owner may destroy it or
    change who has access). EMAIL must have an account: an operator makes it with
    `moor setup --email EMAIL`, which prints its token."""
    api.add_collaborator(client(), app, email)
    out.print(f"Adding {email} access to [bold]{app}[/bold]... done")


@cli.command("access:remove")
@click.argument("email")
@app_option
def access_remove(email: str, app: str) -> None:
    """Take EMAIL's access to the app away (the owner), or leave it (a collaborator, with
    their own email)."""
    api.remove_collaborator(client(), app, email)
    out.print(f"Removing {email} access from [bold]{app}[/bold]... done")
