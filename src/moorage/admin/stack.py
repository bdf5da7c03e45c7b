"""stack:build: the platform's base image, made locally with debootstrap."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import docker
import docker.errors

from moorage.cli.base import out
from moorage.errors import RuntimeFailure
from moorage.stack.builder import STACK_IMAGE, build_stack


@click.command("stack:build")
@click.option("--force", is_flag=True, help="Rebuild even when the image exists.")
@click.option("--no-python-tag", is_flag=True, help="Do not tag the stack as python:3.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def stack_build(force: bool, no_python_tag: bool, workdir: Path | None) -> None:
    """Build moorage/stack:bookworm (Debian + Python 3) and tag it python:3 if absent."""
    try:
        d = docker.from_env(timeout=600)
        d.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Docker does not answer ({exc}). Start dockerd first.") from exc
    base = workdir or Path(tempfile.gettempdir())
    result = build_stack(
        d,
        workdir=base,
        force=force,
        tag_python=not no_python_tag,
        log=lambda line: click.echo(line, err=True),
    )
    verb = f"built in {result.seconds:.0f}s" if result.built else "already present"
    tagged = "; tagged python:3" if result.tagged_python else ""
    out.print(f"{STACK_IMAGE} {verb} ({result.image_id[:19]}){tagged}")
