"""schedules, schedules:add, schedules:remove; drains, drains:add, drains:remove."""

from __future__ import annotations

import shlex

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import drains as drains_api
from moorage.client import schedules as api


@cli.command("schedules")
@app_option
@json_option
def schedules(app: str, as_json: bool) -> None:
    """List the app's scheduled jobs, their last run and next run (UTC)."""
    rows = api.schedules(client(), app)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table(
        ["id", "schedule", "command", "size", "last run", "status", "next run"],
        [
            (
                r.id[:8],
                r.schedule,
                r.command,
                r.size,
                r.last_run_at or "-",
                r.last_status or "-",
                r.next_run_at,
            )
            for r in rows
        ],
    )


@cli.command("schedules:add", context_settings={"ignore_unknown_options": True})
@click.argument("schedule")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_option
@click.option("-s", "--size", default="basic", show_default=True)
@click.option(
    "--concurrency",
    type=click.Choice(["forbid", "allow"]),
    default="forbid",
    show_default=True,
    help="forbid: skip a run while the previous one is still going.",
)
@json_option
def schedules_add(
    schedule: str, command: tuple[str, ...], app: str, size: str, concurrency: str, as_json: bool
) -> None:
    """Run COMMAND on a cron SCHEDULE (UTC), e.g. "*/5 * * * *", as one-off dynos."""
    row = api.schedule_add(
        client(), app, schedule, shlex.join(command), size=size, concurrency=concurrency
    )
    if as_json:
        print_json(row.model_dump(mode="json"))
        return
    out.print(
        f"Scheduled `{row.command}` at {row.schedule} (id {row.id[:8]}); "
        f"next run {row.next_run_at}."
    )


@cli.command("schedules:remove")
@click.argument("schedule_id")
@app_option
def schedules_remove(schedule_id: str, app: str) -> None:
    """Remove a schedule by the id `moor schedules` shows."""
    row = api.schedule_remove(client(), app, schedule_id)
    out.print(f"Removed schedule {row.id[:8]} ({row.schedule} `{row.command}`).")


@cli.command("drains")
@app_option
@json_option
def drains(app: str, as_json: bool) -> None:
    """List the app's log drains with lines sent and dropped."""
    rows = drains_api.drains(client(), app)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table(
        ["url", "token", "sent", "dropped", "last error"],
        [
            (
                r.url,
                r.token,
                r.moorage_stats.sent if r.moorage_stats else 0,
                r.moorage_stats.dropped if r.moorage_stats else 0,
                (r.moorage_stats.last_error if r.moorage_stats else None) or "-",
            )
            for r in rows
        ],
    )


@cli.command("drains:add")
@click.argument("url")
@app_option
def drains_add(url: str, app: str) -> None:
    """Forward the app's log to URL: syslog+tls://HOST:PORT, syslog+tcp://... or https://..."""
    row = drains_api.drain_add(client(), app, url)
    out.print(f"Successfully added drain {row.url} (token {row.token}).")


@cli.command("drains:remove")
@click.argument("url_or_token")
@app_option
def drains_remove(url_or_token: str, app: str) -> None:
    """Stop forwarding to a drain (by URL or token)."""
    row = drains_api.drain_remove(client(), app, url_or_token)
    out.print(f"Successfully removed drain {row.url}.")
