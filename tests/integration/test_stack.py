"""The stack image builds (debootstrap, no pull) and works as ``python:3`` for real Dockerfiles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests

from moorage.stack.builder import STACK_IMAGE, StackResult, build_stack, stack_present

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        docker_client = docker.from_env(timeout=300)
        docker_client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        pytest.skip(f"Docker Engine is not reachable: {exc}")
    yield docker_client
    docker_client.close()


@pytest.fixture(scope="module")
def stack(client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> StackResult:
    lines: list[str] = []
    result = build_stack(client, workdir=tmp_path_factory.mktemp("stack"), log=lines.append)
    assert stack_present(client), "\n".join(lines[-30:])
    return result


def _log_text(build_log: Any) -> str:
    parts = []
    for chunk in build_log:
        if isinstance(chunk, dict):
            parts.append(str(chunk.get("stream") or chunk.get("error") or ""))
    return "".join(parts)[-4000:]


@contextmanager
def _built(client: docker.DockerClient, context: Path, dockerfile: str) -> Iterator[str]:
    """Build ``dockerfile`` in ``context``; yield the image id, then remove the image."""
    (context / "Dockerfile").write_text(dockerfile)
    tag = f"moorage-test/stack-{uuid.uuid4().hex[:12]}:latest"
    try:
        image, _ = client.images.build(
            path=str(context), tag=tag, rm=True, forcerm=True, pull=False
        )
    except docker.errors.BuildError as exc:
        pytest.fail(f"docker build failed: {exc}\n{_log_text(exc.build_log)}")
    try:
        assert image.id is not None
        yield image.id
    finally:
        client.images.remove(tag, force=True)


def test_stack_is_reused(client: docker.DockerClient, stack: StackResult, tmp_path: Path) -> None:
    again = build_stack(client, workdir=tmp_path, log=lambda _: None)
    assert not again.built
    assert not again.tagged_python
    assert again.image_id == stack.image_id == client.images.get(STACK_IMAGE).id
    assert client.images.get("python:3").id is not None


def test_python3_dockerfile_installs_requirements(
    client: docker.DockerClient, stack: StackResult, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    dockerfile = (
        "FROM python:3\n"
        "WORKDIR /usr/src/app\n"
        "COPY requirements.txt ./\n"
        "RUN pip install --no-cache-dir -r requirements.txt\n"
        'RUN python -c "import flask"\n'
    )
    with _built(client, tmp_path, dockerfile) as image_id:
        assert image_id.startswith("sha256:")


def test_stack_apt_install_and_ca_survive(
    client: docker.DockerClient, stack: StackResult, tmp_path: Path
) -> None:
    dockerfile = (
        f"FROM {STACK_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends iputils-ping "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "RUN ping -V\n"
        # a later layer rebuilding the CA bundle from scratch must keep the host's CAs
        "RUN update-ca-certificates --fresh "
        "&& env -u SSL_CERT_FILE -u REQUESTS_CA_BUNDLE -u PIP_CERT "
        "curl -fsS -o /dev/null https://pypi.org/simple/\n"
    )
    with _built(client, tmp_path, dockerfile) as image_id:
        assert image_id.startswith("sha256:")
