"""repo, repo:link, repo:unlink: build an app when its repository on GitHub, GitLab or
Gitea is pushed (the provider's webhook calls the platform)."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import repolinks
from moorage.schemas.repolinks import RepoLink, RepoLinkCreate

SETUP = {
    "github": "Settings > Webhooks > Add webhook: content type application/json, this secret",
    "gitlab": "Settings > Webhooks: this secret as the secret token, push events",
    "gitea": "Settings > Webhooks > Add webhook > Gitea: POST, application/json, this secret",
}


def _rows(link: RepoLink) -> list[tuple[str, str]]:
    return [
        ("Repository", link.url),
        ("Provider", link.provider),
        ("Branch", link.branch),
        ("Webhook URL", link.hook_url),
    ]


@cli.command("repo:link")
@click.argument("url")
@click.option("--provider", type=click.Choice(["github", "gitlab", "gitea"]), default="github")
@click.option("--branch", default="main", show_default=True, help="The branch that deploys.")
@app_option
@json_option
def repo_link(url: str, provider: str, branch: str, app: str, as_json: bool) -> None:
    """Build APP whenever BRANCH of the repository at URL is pushed. A private repository:
    put a read-only token in the URL (https://TOKEN@host/owner/repo.git); it is stored
    encrypted and never shown again."""
    body = RepoLinkCreate(url=url, provider=provider, branch=branch)  # type: ignore[arg-type]
    made = repolinks.link(client(), app, body)
    if as_json:
        print_json(made.model_dump(mode="json"))
        return
    table(["", ""], [*_rows(made), ("Secret", made.secret or "")])
    out.print(
        f"Add the webhook on {provider} ({SETUP[provider]}). The secret is not shown again.",
        markup=False,
    )


@cli.command("repo")
@app_option
@json_option
def repo_show(app: str, as_json: bool) -> None:
    """Show the repository APP builds from and its webhook URL."""
    found = repolinks.show(client(), app)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    table(["", ""], _rows(found))


@cli.command("repo:unlink")
@app_option
def repo_unlink(app: str) -> None:
    """Stop building APP from its repository's pushes (its webhook is refused after)."""
    gone = repolinks.unlink(client(), app)
    out.print(f"{app} no longer builds from {gone.url}. Remove the webhook there too.")
