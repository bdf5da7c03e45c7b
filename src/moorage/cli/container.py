"""container:login, container:push, container:release (the Heroku CLI's verbs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from moorage.cli.base import app_option, cli, client, err, out
from moorage.client.api import Client
from moorage.errors import BuildFailed, ImageNotPushed, InvalidParams, RuntimeFailure, Unauthorized
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
        _push(d, repo, token)
        out.print(
            "Your image has been successfully pushed. Release it with "
            f"`moor container:release {ptype} -a {app}`."
        )


def _wait(c: Client, app: str, version: int, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with err.status(f"Releasing v{version}..."):
        while time.monotonic() < deadline:
            rel = c.release(app, str(version))
            if rel["status"] != "pending":
                return rel
            time.sleep(0.5)
    raise RuntimeFailure(
        f"Release v{version} is still pending after {timeout:.0f}s; see `moor releases -a {app}`."
    )


@cli.command("container:release")
@click.argument("types", nargs=-1, required=True)
@app_option
def container_release(types: tuple[str, ...], app: str) -> None:
    """Release the pushed TYPE images: a new release, rolled out behind the router."""
    c = client()
    registry, d = c.info()["registry"], _docker()
    updates = []
    for ptype in map(validate_process_type, types):
        try:
            image_id = d.images.get(f"{registry}/{app}/{ptype}:latest").id
        except Exception as exc:  # docker.errors.ImageNotFound, imported lazily
            raise ImageNotPushed(
                f"No {ptype} image for {app} here. "
                f"Run `moor container:push {ptype} -a {app}` first."
            ) from exc
        updates.append({"type": ptype, "docker_image": image_id})
    before = max((r["version"] for r in c.releases(app)), default=0)
    c.formation_update(app, updates)
    after = max((r["version"] for r in c.releases(app)), default=0)
    if after == before:
        out.print(f"{', '.join(types)} already released in v{before}; nothing to do.")
        return
    rel = _wait(c, app, after)
    if rel["status"] == "failed":
        raise RuntimeFailure(
            f"Release v{after} failed: {rel.get('status_reason')}. "
            "The previous release keeps serving."
        )
    out.print(f"Releasing images {', '.join(types)} to [bold]{app}[/bold]... done (v{after})")
