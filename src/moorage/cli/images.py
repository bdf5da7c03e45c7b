"""Releasing prebuilt images: ``container:release --image``, and ``registry:login``."""

from __future__ import annotations

import sys
import time

import click

from moorage.cli.base import app_option, cli, client, out, table
from moorage.cli.progress import wait_release
from moorage.client import images as api
from moorage.client.api import Client
from moorage.errors import InvalidParams, MoorageError, RuntimeFailure
from moorage.schemas.images import ImageUpdate
from moorage.spec.status import ProofStatus

POLL_SECONDS = 0.5


def image_args(types: list[str], images: tuple[str, ...]) -> dict[str, str]:
    """``--image`` values by process type: ``TYPE=REF``, or a bare ``REF`` when exactly
    one TYPE is named."""
    out_: dict[str, str] = {}
    for item in images:
        ptype, sep, ref = item.partition("=")
        if not sep:
            if len(types) != 1:
                raise InvalidParams(
                    f"--image {item}: name the process type, as --image web={item} "
                    "(a bare reference needs exactly one TYPE argument)."
                )
            ptype, ref = types[0], item
        if ptype in out_:
            raise InvalidParams(f"--image names {ptype} twice; give one image per type.")
        out_[ptype] = ref
    return out_


def release_images(c: Client, app: str, updates: list[ImageUpdate], timeout: float) -> None:
    """Ask the platform to copy and release, print its progress, wait for the rollout."""
    job = api.start_image_release(c, app, updates)
    shown = 0
    deadline = time.monotonic() + timeout
    while job.status == ProofStatus.PENDING:
        if time.monotonic() > deadline:
            raise RuntimeFailure(
                f"The image release is still running after {timeout:.0f}s; follow it with "
                f"`moor logs --source moorage -a {app}`."
            )
        time.sleep(POLL_SECONDS)
        job = api.image_release(c, app, job.id)
        for line in job.output[shown:]:
            out.print(line, markup=False)
        shown = len(job.output)
    if job.status == ProofStatus.FAILED:
        raise MoorageError(f"{job.message} The previous release keeps serving.")
    if job.release is None:
        out.print(f"{', '.join(i.type for i in job.images)} already released; nothing to do.")
        return
    version = job.release.version
    wait_release(c, app, version)
    names = ", ".join(f"{i.type} ({i.image})" for i in job.images)
    out.print(f"Releasing {names} to [bold]{app}[/bold]... done (v{version})")


@cli.command("registry")
@app_option
def registry_list(app: str) -> None:
    """Registries the app pulls prebuilt images from with credentials (no passwords)."""
    rows = api.registry_logins(client(), app)
    if not rows:
        out.print(f"{app} has no registry credentials. Add some with `moor registry:login`.")
        return
    table(["host", "username"], [(r.host, r.username) for r in rows])


@cli.command("registry:login")
@click.argument("host")
@click.option("-u", "--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password or token from stdin.")
@app_option
def registry_login(host: str, username: str, password_stdin: bool, app: str) -> None:
    """Credentials for HOST that the platform pulls this app's images with (kept sealed)."""
    if password_stdin:
        password = sys.stdin.read().strip()
    else:
        password = click.prompt("Password", hide_input=True)
    row = api.registry_login(client(), app, host, username, password)
    out.print(f"{app} pulls from {row.host} as {row.username}.")


@cli.command("registry:logout")
@click.argument("host")
@app_option
def registry_logout(host: str, app: str) -> None:
    """Forget the app's credentials for HOST."""
    row = api.registry_logout(client(), app, host)
    out.print(f"Removed the credentials for {row.host} from {app}.")
