"""The ``moor`` entry point: client commands plus the server-side ``server`` and ``setup``."""

from __future__ import annotations

from moorage.cli import (  # noqa: F401
    access,
    addons,
    apps,
    auth,
    config,
    container,
    domains,
    logs,
    pg,
    ps,
    releases,
    run,
    schedules,
    volumes,
)
from moorage.cli.base import cli

cli.lazy.update(
    {
        "server": "moorage.server.cli:server",
        "setup": "moorage.server.cli:setup",
        "nodes": "moorage.server.nodes:nodes",
        "nodes:add": "moorage.server.nodes:nodes_add",
        "nodes:drain": "moorage.server.nodes:nodes_drain",
        "nodes:activate": "moorage.server.nodes:nodes_activate",
        "nodes:remove": "moorage.server.nodes:nodes_remove",
        "stack:build": "moorage.cli.stack:stack_build",
        "k8s:convert": "moorage.cli.k8s:k8s_convert",
        "k8s:import": "moorage.cli.k8s:k8s_import",
        "doctor": "moorage.cli.k8s:doctor",
        "certs": "moorage.cli.certs:certs_list",
        "certs:add": "moorage.cli.certs:certs_add",
        "certs:ca": "moorage.cli.certs:certs_ca",
        "certs:info": "moorage.cli.certs:certs_info",
        "certs:remove": "moorage.cli.certs:certs_remove",
        "certs:update": "moorage.cli.certs:certs_update",
    }
)


def main() -> None:
    cli()
