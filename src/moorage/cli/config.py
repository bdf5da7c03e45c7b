"""config, config:get, config:set, config:unset."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import config as api
from moorage.errors import InvalidParams
from moorage.spec.names import CONFIG_KEY_RE, validate_config_key


@cli.command("config")
@app_option
@json_option
def config_show(app: str, as_json: bool) -> None:
    """Show the app's config vars."""
    cfg = api.config_vars(client(), app)
    if as_json:
        print_json(cfg)
        return
    table(["key", "value"], sorted(cfg.items()))


@cli.command("config:get")
@click.argument("key")
@app_option
def config_get(key: str, app: str) -> None:
    """Print one config var's value."""
    click.echo(api.config_vars(client(), app).get(key, ""))


@cli.command("config:set")
@click.argument("pairs", nargs=-1, required=True)
@app_option
@json_option
def config_set(pairs: tuple[str, ...], app: str, as_json: bool) -> None:
    """Set KEY=VALUE pairs; makes a new release and restarts the dynos."""
    changes: dict[str, str | None] = {}
    for n, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep:  # it may be a value typed without its key: never echo it
            shown = repr(pair) if CONFIG_KEY_RE.fullmatch(pair) else f"Argument {n}"
            raise InvalidParams(f"{shown} is not KEY=VALUE.")
        changes[validate_config_key(key)] = value
    cfg = api.update_config(client(), app, changes)
    if as_json:
        print_json({k: cfg[k] for k in changes})
        return
    out.print(f"Setting {', '.join(changes)} and restarting [bold]{app}[/bold]... done")


@cli.command("config:unset")
@click.argument("keys", nargs=-1, required=True)
@app_option
@json_option
def config_unset(keys: tuple[str, ...], app: str, as_json: bool) -> None:
    """Remove config vars; makes a new release."""
    cfg = api.update_config(client(), app, {validate_config_key(k): None for k in keys})
    if as_json:
        print_json(sorted(cfg))
        return
    out.print(f"Unsetting {', '.join(keys)} and restarting [bold]{app}[/bold]... done")
