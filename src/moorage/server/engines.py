"""The runtime the settings choose (``MOORAGE_RUNTIME``), and the nodes' registry login."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import docker
import docker.errors

from moorage.errors import RuntimeFailure
from moorage.runtime.docker import DockerRuntime
from moorage.runtime.firewall import block_link_local
from moorage.runtime.subnets import SubnetPool
from moorage.runtime.swarm import NODE_USER, SwarmRuntime
from moorage.settings import Settings

__all__ = ["NODE_USER", "is_node_login", "make_runtime", "node_password"]


def node_password(secret: bytes) -> str:
    """The password Swarm nodes log in to the registry with (user ``moorage-node``): it
    grants pulls of every app's images and nothing else. Derived from the platform secret,
    so it is never stored; a new ``secret.key`` revokes it."""
    return hmac.new(secret, b"moorage registry node pull", hashlib.sha256).hexdigest()


def is_node_login(user: str, password: str, secret: bytes) -> bool:
    return user == NODE_USER and hmac.compare_digest(password, node_password(secret))


def _client(url: str) -> docker.DockerClient:
    try:
        client = (
            docker.DockerClient(base_url=url, timeout=120) if url else docker.from_env(timeout=120)
        )
        client.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(
            f"The Docker Engine at {url or 'DOCKER_HOST'} does not answer: {exc}"
        ) from exc
    return client


def make_runtime(
    settings: Settings,
    pull_token: Callable[[str], str],
    secret: bytes,
    subnet_pool: SubnetPool | None = None,
) -> DockerRuntime | SwarmRuntime:
    """Docker on this host, or Swarm through the manager at ``MOORAGE_SWARM_ENGINE``.
    Dynos (and one-offs, on the manager) reach no link-local address (cloud metadata).
    Networks get their subnets from ``subnet_pool``."""
    block_link_local()
    if settings.runtime != "swarm":
        return DockerRuntime(
            settings.instance, settings.registry_host, pull_token, subnet_pool=subnet_pool
        )
    addon_address = (
        settings.swarm_addon_address
        or DockerRuntime(settings.instance, settings.registry_host, pull_token).host_gateway_ip()
    )
    return SwarmRuntime(
        addon_address,
        settings.instance,
        settings.registry_host,
        settings.node_registry,
        pull_token,
        (NODE_USER, node_password(secret)),
        _client(settings.swarm_engine),
        settings.swarm_node_engines,
        subnet_pool,
    )
