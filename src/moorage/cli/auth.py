"""login, auth:whoami, info."""

from __future__ import annotations

import sys

import click

from moorage.cli.base import cli, client, json_option, out, print_json, table
from moorage.client import credentials
from moorage.client.api import Client
from moorage.errors import InvalidParams


@cli.command("login")
@click.option("--api-url", default=None, help="The platform's API URL.")
@click.option("--token-stdin", is_flag=True, help="Read the API token from standard input.")
def login(api_url: str | None, token_stdin: bool) -> None:
    """Store an API token (in a 0600 file) after checking it against the API."""
    url = api_url or credentials.load().api_url
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("API token", hide_input=True).strip()
    if not token:
        raise InvalidParams("An empty token was given.")
    account = Client(credentials.Credentials(url, token)).account()
    path = credentials.save(url, token)
    out.print(f"Logged in as [bold]{account['email']}[/bold] (credentials in {path})")


@cli.command("auth:whoami")
def whoami() -> None:
    """Print the logged-in account's email."""
    click.echo(client().account()["email"])


@cli.command("info")
@json_option
def info(as_json: bool) -> None:
    """Facts about the platform: API, registry, domain."""
    facts = client().info()
    if as_json:
        print_json(facts)
        return
    table(["", ""], sorted(facts.items()))
