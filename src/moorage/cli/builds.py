"""builds, builds:info, builds:output, builds:cancel: what ``git push`` built."""

from __future__ import annotations

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client.builds import build, builds, cancel, output
from moorage.errors import NotFound


@cli.command("builds")
@app_option
@json_option
def builds_list(app: str, as_json: bool) -> None:
    """List the app's builds from `git push`, newest first."""
    found = list(reversed(builds(client(), app)))
    if as_json:
        print_json([b.model_dump(mode="json") for b in found])
        return
    table(
        ["id", "status", "commit", "release", "created"],
        [
            (
                b.id,
                b.status,
                (b.source_blob.version or "")[:10],
                f"v{b.release.version}" if b.release else "",
                b.created_at,
            )
            for b in found
        ],
    )


@cli.command("builds:info")
@click.argument("build_id")
@app_option
@json_option
def builds_info(build_id: str, app: str, as_json: bool) -> None:
    """Show one build: its status, commit, release and why it failed."""
    b = build(client(), app, build_id)
    if as_json:
        print_json(b.model_dump(mode="json"))
        return
    table(
        ["", ""],
        [
            ("Id", b.id),
            ("Status", b.status),
            ("Commit", b.source_blob.version or ""),
            ("Checksum", b.source_blob.checksum or ""),
            ("Release", f"v{b.release.version}" if b.release else ""),
            ("Message", b.message or ""),
        ],
    )


@cli.command("builds:output")
@click.argument("build_id")
@app_option
def builds_output(build_id: str, app: str) -> None:
    """Print a build's output, live while it runs (kept 10 minutes after it ends)."""
    for line in output(client(), app, build_id):
        out.print(line, markup=False, highlight=False)


@cli.command("builds:cancel")
@click.argument("build_id", required=False)
@app_option
@json_option
def builds_cancel(build_id: str | None, app: str, as_json: bool) -> None:
    """Cancel a build (default: the app's newest one still running or waiting).

    It stops at once (a running step is killed), ends `failed` with "Build cancelled",
    releases nothing, and its `git push` fails. A build already releasing cannot be
    cancelled; roll it back with releases:rollback."""
    c = client()
    if build_id is None:
        running = [b for b in builds(c, app) if b.status == "pending"]
        if not running:
            raise NotFound(f"{app} has no build running or waiting; there is nothing to cancel.")
        build_id = running[-1].id
    if not as_json:
        out.print(f"Cancelling build {build_id} of {app}...", highlight=False)
    b = cancel(c, app, build_id)
    if as_json:
        print_json(b.model_dump(mode="json"))
        return
    out.print(f"Build {b.id}: {b.status}. {b.message or ''}".rstrip(), highlight=False)
