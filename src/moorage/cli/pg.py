"""pg:info, pg:psql, pg:credentials:rotate and pg:backups:* for postgresql add-ons.

ADDON is an add-on name or the attachment name in the app (default ``DATABASE``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from moorage.cli.addons import info_and_facts, releases_note
from moorage.cli.base import app_option, cli, client, err, json_option, out, print_json, table
from moorage.client import addons as addons_api
from moorage.client import backups as api
from moorage.errors import InvalidParams, RuntimeFailure
from moorage.schemas.backups import Backup
from moorage.spec.bytesizes import human_size
from moorage.spec.status import BackupStatus, Verification
from moorage.spec.urls import shown_url

ADDON = click.argument("addon", required=False, default="DATABASE")


@cli.command("pg:info")
@ADDON
@app_option
@json_option
def pg_info(addon: str, app: str, as_json: bool) -> None:
    """Version, size, tables and connections of a postgresql add-on."""
    info, facts = info_and_facts(app, addon, as_json)
    if as_json:
        return
    out.print(f"=== {info.name} ({', '.join(info.config_vars) or 'attached'})")
    for key, value in facts.items():
        out.print(f"[bold]{key + ':':<22}[/bold] {value}")


@cli.command("pg:promote")
@click.argument("addon")
@app_option
@click.option("--force", is_flag=True, help="Promote even if the follower has not caught up.")
@json_option
def pg_promote(addon: str, app: str, force: bool, as_json: bool) -> None:
    """Make a follower the app's DATABASE_URL: it stops following (once caught up) and the
    app is released with it; the database it replaces is detached and kept."""
    made = addons_api.promote(client(), app, addon, force=force)
    if as_json:
        print_json(made.model_dump(mode="json"))
        return
    out.print(f"Promoted {addon} to DATABASE_URL on {app} (v{made.version}).")


@cli.command("pg:connection-pooling:attach")
@ADDON
@app_option
@click.option("--as", "as_name", default=None, help="Default DATABASE_CONNECTION_POOL.")
@json_option
def pg_pooling_attach(addon: str, app: str, as_name: str | None, as_json: bool) -> None:
    """PgBouncer (transaction mode) in front of the database; its URL goes into the app's
    config as DATABASE_CONNECTION_POOL_URL (a new release). Same credentials; rotation goes
    through it. Transaction pooling has no session state: turn server-side prepared
    statements off in the driver (psycopg: prepare_threshold=None). Remove it with
    `moor addons:detach DATABASE_CONNECTION_POOL -a APP`."""
    att = addons_api.connection_pooling(client(), app, addon, as_name)
    if as_json:
        print_json(att.model_dump(mode="json"))
        return
    out.print(f"Connection pool of {att.addon.name} attached as {att.name}_URL on {app}.")


@cli.command("pg:unfollow")
@click.argument("addon")
@app_option
@json_option
def pg_unfollow(addon: str, app: str, as_json: bool) -> None:
    """Stop a follower following: it takes writes of its own; config stays as it is."""
    info = addons_api.unfollow(client(), app, addon)
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    out.print(f"{info.name} no longer follows: it is a database of its own now.")


@cli.command("pg:psql")
@ADDON
@app_option
@click.option("-c", "--command", "sql", default=None, help="Run one SQL command and exit.")
def pg_psql(addon: str, app: str, sql: str | None) -> None:
    """psql on the add-on from a one-off dyno on the app's network (no local psql needed)."""
    from moorage.cli.run import _exit, _size_query
    from moorage.client.terminal import run_terminal

    c = client()
    # SQL from a pipe or a file: no TTY, so psql reads it to the end (no prompt, no pager)
    dyno = addons_api.psql(c, app, addon, command=sql, tty=sys.stdin.isatty())
    url = dyno.attach_url or ""
    if sql is None and _size_query():
        url += "?" + "&".join(f"{k}={v}" for k, v in _size_query().items())
    interactive = sql is None and sys.stdin.isatty()
    _exit(run_terminal(url, c.token or "", interactive=None if interactive else False))


@cli.command("pg:credentials:rotate")
@ADDON
@app_option
@json_option
def pg_rotate(addon: str, app: str, as_json: bool) -> None:
    """New credentials: every attached app gets a release with the new URL (zero downtime);
    the old credentials are refused once no dyno uses them any more."""
    made = addons_api.rotate_credentials(client(), app, addon)
    if as_json:
        print_json([r.model_dump(mode="json") for r in made])
        return
    out.print(f"Rotating credentials of {addon} on {app}... done ({releases_note(made)})")


def _backup_rows(rows: list[Backup]) -> list[tuple[str, ...]]:
    return [
        (
            b.id,
            str(b.started_at or ""),
            b.status,
            b.verified,
            human_size(b.size) if b.size else "-",
            f"{b.seconds:.1f}s",
            b.trigger,
        )
        for b in rows
    ]


@cli.command("pg:backups")
@ADDON
@app_option
@json_option
def pg_backups(addon: str, app: str, as_json: bool) -> None:
    """Backups of the add-on, with the result of each one's verifying restore."""
    rows = api.backups(client(), app, addon)
    if as_json:
        print_json([b.model_dump(mode="json") for b in rows])
        return
    if not rows:
        out.print(f"No backups. Capture one with `moor pg:backups:capture -a {app}`.")
        return
    table(["id", "started", "status", "verified", "size", "took", "trigger"], _backup_rows(rows))


@cli.command("pg:backups:capture")
@ADDON
@app_option
@click.option("--no-wait", is_flag=True, help="Return at once; see `moor pg:backups`.")
@json_option
def pg_capture(addon: str, app: str, no_wait: bool, as_json: bool) -> None:
    """Capture a backup (pg_dump of a consistent snapshot), then verify it by restoring it
    into a scratch database and comparing every table's rows and checksum."""
    c = client()
    backup = api.capture(c, app, addon)
    if not as_json:
        err.print(f"Capturing {backup.id} of {backup.addon.name}...")
    while not no_wait and (
        backup.status == BackupStatus.RUNNING or backup.verified == Verification.PENDING
    ):
        time.sleep(0.5)
        backup = api.backup(c, app, addon, backup.id)
    if as_json:
        print_json(backup.model_dump(mode="json"))
    else:
        _show(backup)
    if backup.status == BackupStatus.FAILED:
        raise RuntimeFailure(f"Backup {backup.id} failed: {backup.detail}")
    if backup.verified in (Verification.MISMATCH, Verification.ERROR):
        raise RuntimeFailure(f"Backup {backup.id} did not verify: {backup.detail}")


def _show(b: Backup) -> None:
    rows = [
        ("Backup", b.id),
        ("Add-on", b.addon.name),
        ("Status", b.status),
        ("Verified", f"{b.verified} ({b.detail})" if b.detail else b.verified),
        ("Size", human_size(b.size)),
        ("Took", f"{b.seconds:.1f}s"),
        ("Trigger", b.trigger),
        ("Started", b.started_at),
        ("Finished", b.finished_at or "-"),
        ("Tables", str(len(b.tables))),
    ]
    for key, value in rows:
        out.print(f"[bold]{key + ':':<10}[/bold] {value}")


@cli.command("pg:backups:info")
@click.argument("backup")
@click.option("--addon", default="DATABASE", show_default=True)
@app_option
@json_option
def pg_backup_info(backup: str, addon: str, app: str, as_json: bool) -> None:
    """One backup: status, verification, size, per-table row counts."""
    b = api.backup(client(), app, addon, backup)
    if as_json:
        print_json(b.model_dump(mode="json"))
        return
    _show(b)
    if b.tables:
        table(["table", "rows"], [(k, b.tables[k].rows) for k in sorted(b.tables)])


@cli.command("pg:backups:download")
@click.argument("backup", required=False)
@click.option("--addon", default="DATABASE", show_default=True)
@click.option("-o", "--output", default=None, help="File to write (default latest.dump).")
@app_option
def pg_download(backup: str | None, addon: str, output: str | None, app: str) -> None:
    """Download a backup (default: the latest completed) as a pg_restore-able file."""
    c = client()
    if backup is None:
        done = [b for b in api.backups(c, app, addon) if b.status == BackupStatus.COMPLETED]
        if not done:
            raise InvalidParams(
                f"No completed backup to download; run `moor pg:backups:capture -a {app}`."
            )
        backup = done[-1].id
    dest = Path(output or "latest.dump")
    size = api.download(c, app, addon, backup, dest)
    out.print(f"Downloaded {backup} to {dest} ({human_size(size)})")


@cli.command("pg:backups:restore")
@click.argument("source", required=False)
@click.argument("addon", required=False, default="DATABASE")
@app_option
@click.option("--confirm", default=None, help="The app name again: the database is replaced.")
def pg_restore(source: str | None, addon: str, app: str, confirm: str | None) -> None:
    """Restore a backup (b003, default the latest), an http(s) URL or a local dump file into
    the add-on's database. The database is unchanged unless the whole restore succeeds."""
    if confirm != app:
        raise InvalidParams(
            f"This replaces every table of {addon} on {app}. Confirm with --confirm {app}."
        )
    c = client()
    shown = source or "the latest backup"
    if source and Path(source).is_file():
        err.print(f"Uploading and restoring {source}...")
        api.restore_file(c, app, addon, Path(source), confirm=app)
    elif source and source.startswith(("http://", "https://")):
        shown = shown_url(source)
        err.print(f"Restoring {shown}...")
        api.restore(c, app, addon, confirm=app, backup=None, url=source)
    else:
        err.print(f"Restoring {shown}...")
        api.restore(c, app, addon, confirm=app, backup=source or None, url=None)
    out.print(f"Restored {shown} into {addon} on {app}.")


@cli.command("pg:backups:delete")
@click.argument("backup")
@click.option("--addon", default="DATABASE", show_default=True)
@app_option
@click.option("--confirm", default=None, help="The app name again.")
def pg_delete(backup: str, addon: str, app: str, confirm: str | None) -> None:
    """Delete a backup and its file."""
    if confirm != app:
        raise InvalidParams(f"This deletes backup {backup} of {app}. Confirm with --confirm {app}.")
    api.delete(client(), app, addon, backup)
    out.print(f"Deleted {backup}.")


@cli.command("pg:backups:schedule")
@ADDON
@app_option
@click.option("--at", "at", required=True, help="Daily time and zone, e.g. '02:00 UTC'.")
@click.option("--keep", type=int, default=None, help="Backups to keep (default 7).")
def pg_schedule(addon: str, app: str, at: str, keep: int | None) -> None:
    """Capture (and verify) a backup every day at a time in a time zone."""
    info = api.schedule(client(), app, addon, at, keep)
    sched = info.moorage.backup_schedule
    if sched is None:  # the server always answers with the schedule it set
        raise RuntimeFailure(f"{info.name} has no backup schedule after setting one.")
    out.print(
        f"Scheduled daily backups of {info.name} at {sched.at} {sched.tz}, "
        f"keeping the last {sched.keep}."
    )


@cli.command("pg:backups:unschedule")
@ADDON
@app_option
def pg_unschedule(addon: str, app: str) -> None:
    """Stop the daily backups (existing backups stay)."""
    info = api.unschedule(client(), app, addon)
    out.print(f"Stopped daily backups of {info.name}.")
