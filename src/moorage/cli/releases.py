"""releases, releases:info."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, print_json, table


@cli.command("releases")
@app_option
@json_option
def releases_list(app: str, as_json: bool) -> None:
    """List the app's releases, newest first."""
    rels = list(reversed(client().releases(app)))
    if as_json:
        print_json(rels)
        return
    table(
        ["version", "status", "description", "by", "created"],
        [
            (
                f"v{r['version']}" + (" (current)" if r["current"] else ""),
                r["status"],
                r["description"] + (f" — {r['status_reason']}" if r.get("status_reason") else ""),
                r["user"]["email"],
                r["created_at"],
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
    r = client().release(app, version)
    if as_json:
        print_json(r)
        return
    table(
        ["", ""],
        [
            ("Version", f"v{r['version']}"),
            ("Status", r["status"]),
            ("Description", r["description"]),
            ("Reason", r.get("status_reason")),
            ("Images", ", ".join(f"{k}={v}" for k, v in r["images"].items())),
        ],
    )
