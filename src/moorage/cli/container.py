"""container:login, container:push, container:release (the Heroku CLI's verbs)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from moorage.cli.base import app_option, cli, client, err, out
from moorage.cli.images import image_args, release_images
from moorage.cli.progress import wait_release
from moorage.client.api import Client
from moorage.errors import (
    BuildFailed,
    ImageNotPushed,
    InvalidParams,
    RuntimeFailure,
    StorageFull,
    Unauthorized,
)
from moorage.spec.manifests import AppManifest, parse_app_json, parse_heroku_yml, parse_procfile
from moorage.spec.names import validate_process_type

if TYPE_CHECKING:
    import docker


def _docker() -> docker.DockerClient:
    import docker  # imported here: it costs 0.2 s at every start of `moor`
    import docker.errors

    try:
        d = docker.from_env(timeout=600)
        d.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Docker does not answer ({exc}). Start dockerd first.") from exc
    return d


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
    registry = c.info()["registry"]
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


def _build(d: docker.DockerClient, context: Path, dockerfile: Path, tag: str) -> None:
    last_step = ""
    for chunk in d.api.build(
        path=str(context), dockerfile=dockerfile.name, tag=tag, rm=True, forcerm=True, decode=True
    ):
        if "stream" in chunk:
            text = chunk["stream"]
            if text.startswith("Step "):
                last_step = text.strip()
            if text.strip():
                err.out(text.rstrip("\n"), highlight=False)
        if "error" in chunk:
            raise BuildFailed(
                f"Build of {dockerfile.name} failed at {last_step or 'the first step'}: "
                f"{chunk['error'].strip()}. The app keeps running its current release."
            )


def _push(d: docker.DockerClient, repo: str, token: str) -> None:
    auth = {"username": "_", "password": token}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err
    ) as bar:
        tasks: dict[str, Any] = {}
        for chunk in d.api.push(repo, tag="latest", stream=True, decode=True, auth_config=auth):
            if "error" in chunk:
                raise (
                    Unauthorized(f"Push to {repo} refused: {chunk['error']}")
                    if "denied" in chunk["error"] or "unauthorized" in chunk["error"]
                    else RuntimeFailure(chunk["error"])
                )
            layer, detail = chunk.get("id"), chunk.get("progressDetail") or {}
            if not layer or len(layer) != 12:
                continue
            if layer not in tasks:
                tasks[layer] = bar.add_task(layer, total=None)
            if chunk.get("status") in ("Pushed", "Layer already exists"):
                total = bar.tasks[tasks[layer]].total or 1
                bar.update(
                    tasks[layer],
                    completed=total,
                    total=total,
                    description=f"{layer} {chunk['status']}",
                )
            elif detail.get("total"):
                bar.update(
                    tasks[layer],
                    completed=detail.get("current", 0),
                    total=detail["total"],
                    description=f"{layer} {chunk.get('status', '')}",
                )
            else:
                bar.update(tasks[layer], description=f"{layer} {chunk.get('status', '')}")


def _why_push_failed(
    c: Client, app: str, ptype: str, exc: RuntimeFailure, took: float
) -> RuntimeFailure:
    """Docker shows the registry's bare 500; the platform knows whether its disk filled up
    during this push (it reads the registry's log) or is nearly full now."""
    during = [
        f["message"]
        for f in c.push_failures(app, took + 60)
        if f["process_type"] == ptype and f["age"] <= took + 60
    ]
    full = during[:1] or [m for m in [c.info().get("registry_full")] if m]
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
    c.app(app)
    registry, token, d = c.info()["registry"], _token(c), _docker()
    for ptype in map(validate_process_type, types):
        dockerfile = find_dockerfile(context_dir.resolve(), ptype)
        repo = f"{registry}/{app}/{ptype}"
        out.print(f"=== Building {ptype} ({dockerfile})")
        _build(d, context_dir.resolve(), dockerfile, f"{repo}:latest")
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
    ref = f"{registry}/{app}/{ptype}:latest"
    found = _socket_image_id(ref)
    if found is None:  # the engine is elsewhere (DOCKER_HOST tcp:// or ssh://): docker-py
        try:
            found = str(_docker().images.get(ref).id)
        except Exception:  # docker.errors.ImageNotFound, imported lazily
            found = ""
    if not found:
        raise ImageNotPushed(
            f"No {ptype} image for {app} here. Run `moor container:push {ptype} -a {app}` first."
        )
    return found


def _socket_image_id(ref: str) -> str | None:
    """``GET /images/<ref>/json`` on the engine's unix socket: its id, "" when it has no such
    image, None when the engine is not on a unix socket. Asked with httpx, which ``moor``
    has loaded already: importing docker-py took 0.06 s of every ``container:release``."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return None
    import httpx

    transport = httpx.HTTPTransport(uds=host.removeprefix("unix://"))
    try:
        with httpx.Client(transport=transport, timeout=30) as engine:
            resp = engine.get(f"http://docker/images/{quote(ref, safe='')}/json")
    except httpx.HTTPError as exc:
        raise RuntimeFailure(f"Docker does not answer ({exc}). Start dockerd first.") from exc
    if resp.status_code == 404:
        return ""
    if resp.status_code != 200:
        raise RuntimeFailure(f"Docker could not inspect {ref}: {resp.text.strip()}")
    return str(resp.json()["Id"])


def release_updates(
    types: list[str], images: dict[str, str], manifest: AppManifest
) -> list[dict[str, Any]]:
    """Formation updates: pushed images, process commands, the release phase, checks."""
    updates: dict[str, dict[str, Any]] = {}
    for ptype in types:
        updates[ptype] = {"type": ptype, "docker_image": images[ptype]}
    for ptype, command in manifest.commands.items():
        updates.setdefault(ptype, {"type": ptype})["command"] = command
    for ptype, path in manifest.check_paths.items():
        updates.setdefault(ptype, {"type": ptype})["check_path"] = path
    if manifest.release_command is not None:
        updates.setdefault("release", {"type": "release"})["command"] = manifest.release_command
    return list(updates.values())


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
    registry = c.info()["registry"] if pushed else ""
    ids = {t: _image_id(registry, app, t) for t in pushed}
    updates = release_updates(pushed, ids, read_manifest(directory))
    if refs:
        updates += [{"type": t, "image": r} for t, r in refs.items()]
        release_images(c, app, _merged(updates), timeout=3600)
        return
    before = max((r["version"] for r in c.releases(app)), default=0)
    c.formation_update(app, updates)
    after = max((r["version"] for r in c.releases(app)), default=0)
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
