"""volumes, volumes:create, volumes:mount, volumes:unmount, volumes:destroy,
volumes:export, volumes:import."""

from __future__ import annotations

from pathlib import Path

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import volumes as api
from moorage.client.dynos import restart
from moorage.errors import InvalidParams
from moorage.schemas.volumes import Volume


def _used(v: Volume) -> str:
    used = v.used_bytes
    if used is None or used < 0:
        return "-"
    over = (
        " (over its size: the host's filesystem does not cap it)" if used > v.size_mb << 20 else ""
    )
    return f"{used / 2**20:.1f} MB{over}"


@cli.command("volumes")
@app_option
@json_option
def volumes_list(app: str, as_json: bool) -> None:
    """The app's persistent volumes, where they are mounted and what they hold."""
    rows = api.volumes(client(), app)
    if as_json:
        print_json([v.model_dump(mode="json") for v in rows])
        return
    if not rows:
        out.print(f"{app} has no volumes. Create one with `moor volumes:create NAME -a {app}`.")
        return
    table(
        ["name", "size", "used", "mounted in", "at"],
        [(v.name, f"{v.size_mb} MB", _used(v), v.process_type or "-", v.path or "-") for v in rows],
    )


@cli.command("volumes:create")
@click.argument("name")
@click.option("--size", default="1GB", show_default=True, help="e.g. 500MB, 10GB")
@app_option
@json_option
def volumes_create(name: str, size: str, app: str, as_json: bool) -> None:
    """Create a persistent volume NAME (mount it with volumes:mount)."""
    v = api.volume_create(client(), app, name, size)
    if as_json:
        print_json(v.model_dump(mode="json"))
        return
    out.print(
        f"Created volume {v.name} ({v.size_mb} MB) on {app}. Mount it with "
        f"`moor volumes:mount {v.name} /data --type web -a {app}`."
    )


@cli.command("volumes:mount")
@click.argument("name")
@click.argument("path")
@click.option("--type", "process_type", default="web", show_default=True, help="process type")
@app_option
def volumes_mount(name: str, path: str, process_type: str, app: str) -> None:
    """Mount volume NAME at PATH in the dyno of a process type (it restarts with it)."""
    v = api.volume_mount(client(), app, name, path, process_type)
    out.print(
        f"Mounted {v.name} at {v.path} in {v.process_type}: its dyno restarts with it "
        "(the old one stops first). A process type with a volume runs at most one dyno."
    )


@cli.command("volumes:unmount")
@click.argument("name")
@app_option
def volumes_unmount(name: str, app: str) -> None:
    """Unmount volume NAME (its files stay; its dyno restarts without it)."""
    v = api.volume_unmount(client(), app, name)
    out.print(f"Unmounted {v.name}; its files are kept until `moor volumes:destroy`.")


@cli.command("volumes:destroy")
@click.argument("name")
@click.option("--confirm", default="", help="the app's name, to confirm")
@app_option
def volumes_destroy(name: str, confirm: str, app: str) -> None:
    """Destroy volume NAME and its files."""
    if confirm != app:
        raise InvalidParams(f"This deletes the files of {name}: confirm with --confirm {app}.")
    api.volume_destroy(client(), app, name, confirm=app)
    out.print(f"Destroyed volume {name} of {app}.")


@cli.command("volumes:export")
@click.argument("name")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@app_option
def volumes_export(name: str, output: Path, app: str) -> None:
    """Write the files of volume NAME to a tar file (stop its dyno first for a database)."""
    size = api.volume_export(client(), app, name, output)
    out.print(f"Wrote {output} ({size / 2**20:.1f} MB) from volume {name} of {app}.")


@cli.command("volumes:import")
@click.argument("name")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@app_option
def volumes_import(name: str, archive: Path, app: str) -> None:
    """Unpack a tar file (from volumes:export) into volume NAME; its dyno restarts."""
    c = client()
    done = api.volume_import(c, app, name, archive)
    restart(c, app)
    out.print(f"Imported {done.imported / 2**20:.1f} MB into volume {name} of {app}.")
