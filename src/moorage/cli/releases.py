"""releases, releases:info."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.cli.progress import wait_release
from moorage.client.releases import release, releases, rollback
from moorage.errors import InvalidParams
from moorage.spec.status import ReleaseStatus


@cli.command("releases")
@app_option
@json_option
def releases_list(app: str, as_json: bool) -> None:
    """List the app's releases, newest first."""
    rels = list(reversed(releases(client(), app)))
    if as_json:
        print_json([r.model_dump(mode="json") for r in rels])
        return
    table(
        ["version", "status", "description", "by", "created"],
        [
            (
                f"v{r.version}" + (" (current)" if r.current else ""),
                r.status,
                r.description + (f" — {r.status_reason}" if r.status_reason else ""),
                r.user.email,
                r.created_at,
            )
            for r in rels
        ],
    )


@cli.command("releases:info")
@click.argument("version")
@app_option
@json_option
def releases_info(version: str, app: str, as_json: bool) -> None:
    """Show one release (vN)."""
    r = release(client(), app, version)
    if as_json:
        print_json(r.model_dump(mode="json"))
        return
    table(
        ["", ""],
        [
            ("Version", f"v{r.version}"),
            ("Status", r.status),
            ("Description", r.description),
            ("Reason", r.status_reason),
            ("Images", ", ".join(f"{k}={v}" for k, v in r.images.items())),
        ],
    )


@cli.command("releases:rollback")
@click.argument("version", required=False)
@app_option
@json_option
def releases_rollback(version: str | None, app: str, as_json: bool) -> None:
    """Roll back to vN (default: the release before the current one).

    A new release with vN's images and config; the CLI waits until it is live.
    """
    c = client()
    if version is None:
        done = [r for r in releases(c, app) if r.status == ReleaseStatus.SUCCEEDED]
        current = next((r for r in releases(c, app) if r.current), None)
        older = [r for r in done if current is None or r.version < current.version]
        if not older:
            raise InvalidParams(f"{app} has no earlier release to roll back to.")
        version = f"v{older[-1].version}"
    rel = rollback(c, app, version)
    rel = wait_release(c, app, rel.version)
    if as_json:
        print_json(rel.model_dump(mode="json"))
        return
    out.print(f"Rolling back [bold]{app}[/bold] to {version}... done, v{rel.version}")


cli.add_command(releases_rollback, "rollback")
