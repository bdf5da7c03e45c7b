"""login, auth:whoami, info."""

from __future__ import annotations

import sys

import click

from moorage.cli.base import cli, client, json_option, out, print_json, table
from moorage.client import credentials
from moorage.client.api import Client
from moorage.errors import InvalidParams, Unauthorized


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


@cli.command("auth:token")
def auth_token() -> None:
    """Print the API token in use (for HEROKU_API_KEY, scripts and curl)."""
    token = credentials.load().token
    if not token:
        raise Unauthorized("Not logged in. Run `moor login` first.")
    click.echo(token)


@cli.command("info")
@json_option
def info(as_json: bool) -> None:
    """Facts about the platform: API, registry, domain."""
    from moorage.client.info import info as platform_info  # pydantic: only for this command

    facts = platform_info(client()).model_dump(mode="json")
    if as_json:
        print_json(facts)
        return
    table(["", ""], sorted(facts.items()))
    if facts.get("heroku_host"):
        out.print("\nTo use the Heroku CLI (heroku@11) against this platform:")
        for line in heroku_env(facts, "$(moor auth:token)"):
            out.print(f"  export {line}", markup=False, highlight=False)


def heroku_env(facts: dict[str, object], token: str) -> list[str]:
    """The environment for the Heroku CLI. It sends the token only to Heroku's own hosts
    and to exactly ``localhost``, so HEROKU_HEADERS carries it to api.<domain>; the
    particleboard URL keeps ``heroku apps`` from waiting on particleboard.heroku.com."""
    return [
        f"HEROKU_HOST={facts['heroku_host']}",
        f'HEROKU_API_KEY="{token}"',
        f'HEROKU_HEADERS=\'{{"Authorization": "Bearer \'"{token}"\'"}}\'',
        f"HEROKU_PARTICLEBOARD_URL={facts['https_api_url']}",
        f"HEROKU_EXEC_URL={facts['https_api_url']}",
        f"NODE_EXTRA_CA_CERTS={facts['ca_path']}",
    ]
