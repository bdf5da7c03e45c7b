"""container:login, container:push, container:release (the Heroku CLI's verbs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from moorage.cli.base import app_option, cli, client, err, out, real_console
from moorage.cli.images import image_args, release_images
from moorage.cli.progress import wait_release
from moorage.client import apps
from moorage.client.account import info
from moorage.client.api import Client
from moorage.client.formation import update
from moorage.client.images import push_failures
from moorage.client.releases import releases
from moorage.errors import ImageNotPushed, InvalidParams, RuntimeFailure, StorageFull, Unauthorized
from moorage.images.localdocker import LocalDocker, image_id
from moorage.schemas.images import ImageUpdate
from moorage.schemas.releases import FormationUpdate
from moorage.spec.manifests import (
    AppManifest,
    formation_updates,
    parse_app_json,
    parse_heroku_yml,
    parse_procfile,
)
from moorage.spec.names import validate_process_type


def find_dockerfile(context: Path, ptype: str) -> Path:
    """``Dockerfile.<type>`` if present, else ``Dockerfile`` (as the Heroku CLI picks them)."""
    for name in (f"Dockerfile.{ptype}", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    raise InvalidParams(
        f"No Dockerfile.{ptype} or Dockerfile in {context}. Run from your app's folder."
    )


def _token(c: Client) -> str:
    if not c.token:
        raise Unauthorized("Not logged in. Run `moor login` first.")
    return c.token


@cli.command("container:login")
def container_login() -> None:
    """Log Docker in to the platform's registry with your API token."""
    c = client()
    registry = info(c).registry
    proc = subprocess.run(
        ["docker", "login", registry, "--username", "_", "--password-stdin"],
        input=_token(c),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise Unauthorized(f"docker login {registry} failed: {proc.stderr.strip()}")
    out.print(f"Login Succeeded ({registry})")


def _push(d: LocalDocker, repo: str, token: str) -> None:
    """Push with a progress bar per layer on stderr."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=real_console(err)
    ) as bar:
        tasks: dict[str, TaskID] = {}
        for step in d.push(repo, token):
            if step.layer not in tasks:
                tasks[step.layer] = bar.add_task(step.layer, total=None)
            task, description = tasks[step.layer], f"{step.layer} {step.status}"
            if step.done:
                total = bar.tasks[task].total or 1
                bar.update(task, completed=total, total=total, description=description)
            elif step.total:
                bar.update(task, completed=step.current, total=step.total, description=description)
            else:
                bar.update(task, description=description)


def _why_push_failed(
    c: Client, app: str, ptype: str, exc: RuntimeFailure, took: float
) -> RuntimeFailure:
    """Docker shows the registry's bare 500; the platform knows whether its disk filled up
    during this push (it reads the registry's log) or is nearly full now."""
    during = [
        f.message
        for f in push_failures(c, app, took + 60)
        if f.process_type == ptype and f.age <= took + 60
    ]
    full = during[:1] or [m for m in [info(c).registry_full] if m]
    if full:
        return StorageFull(f"The push of {ptype} failed ({exc.message}). {full[0]}")
    return exc


@cli.command("container:push")
@click.argument("types", nargs=-1, required=True)
@app_option
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Build context folder.",
)
def container_push(types: tuple[str, ...], app: str, context_dir: Path) -> None:
    """Build Dockerfile[.TYPE] and push it as the app's TYPE image."""
    c = client()
    apps.app(c, app)  # the app exists and the user may push to it
    registry, token, d = info(c).registry, _token(c), LocalDocker()
    for ptype in map(validate_process_type, types):
        dockerfile = find_dockerfile(context_dir.resolve(), ptype)
        repo = f"{registry}/{app}/{ptype}"
        out.print(f"=== Building {ptype} ({dockerfile})")
        for line in d.build(context_dir.resolve(), dockerfile, f"{repo}:latest"):
            err.out(line, highlight=False)
        out.print(f"=== Pushing {ptype} ({repo}:latest)")
        started = time.monotonic()
        try:
            _push(d, repo, token)
        except RuntimeFailure as exc:
            raise _why_push_failed(c, app, ptype, exc, time.monotonic() - started) from exc
        out.print(
            "Your image has been successfully pushed. Release it with "
            f"`moor container:release {ptype} -a {app}`."
        )


def read_manifest(directory: Path) -> AppManifest:
    """heroku.yml, else Procfile, plus app.json health checks, from ``directory``."""
    manifest = AppManifest()
    if (directory / "heroku.yml").is_file():
        parse_heroku_yml((directory / "heroku.yml").read_text(), manifest)
    elif (directory / "Procfile").is_file():
        parse_procfile((directory / "Procfile").read_text(), manifest)
    if (directory / "app.json").is_file():
        parse_app_json((directory / "app.json").read_text(), manifest)
    return manifest


def _image_id(registry: str, app: str, ptype: str) -> str:
    """The local engine's id of the pushed ``<registry>/<app>/<ptype>:latest``."""
    found = image_id(f"{registry}/{app}/{ptype}:latest")
    if not found:
        raise ImageNotPushed(
            f"No {ptype} image for {app} here. Run `moor container:push {ptype} -a {app}` first."
        )
    return found


@cli.command("container:release")
@click.argument("types", nargs=-1)
@app_option
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Where heroku.yml / Procfile / app.json are read from.",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="[TYPE=]REF",
    help="Release TYPE from a prebuilt image (redis:7, ghcr.io/org/app:1.2, ...@sha256:...); "
    "the platform copies it into its registry. Repeat for several types.",
)
def container_release(
    types: tuple[str, ...], app: str, directory: Path, images: tuple[str, ...]
) -> None:
    """Release the pushed TYPE images, or prebuilt ones (--image): a new release, rolled out
    behind the router.

    Process commands come from heroku.yml `run:` or the Procfile (types without an image of
    their own run on web's); heroku.yml `release:` (or a pushed `release` image) runs as the
    release phase before any dyno changes; app.json `healthchecks` set the readiness path.
    """
    if not types and not images:
        raise InvalidParams("Name the process types to release (or --image TYPE=REF).")
    c = client()
    wanted = [validate_process_type(t) for t in types]
    refs = {validate_process_type(t): r for t, r in image_args(wanted, images).items()}
    pushed = [t for t in wanted if t not in refs]
    registry = info(c).registry if pushed else ""
    ids = {t: _image_id(registry, app, t) for t in pushed}
    updates = formation_updates(pushed, ids, read_manifest(directory))
    if refs:
        updates += [{"type": t, "image": r} for t, r in refs.items()]
        merged = [ImageUpdate.model_validate(u) for u in _merged(updates)]
        release_images(c, app, merged, timeout=3600)
        return
    before = max((r.version for r in releases(c, app)), default=0)
    update(c, app, [FormationUpdate.model_validate(u) for u in updates])
    after = max((r.version for r in releases(c, app)), default=0)
    if after == before:
        out.print(f"{', '.join(types)} already released in v{before}; nothing to do.")
        return
    wait_release(c, app, after)
    out.print(f"Releasing images {', '.join(types)} to [bold]{app}[/bold]... done (v{after})")


def _merged(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One update per process type (a command from the Procfile joins its --image)."""
    by_type: dict[str, dict[str, Any]] = {}
    for u in updates:
        by_type.setdefault(u["type"], {}).update(u)
    return list(by_type.values())
