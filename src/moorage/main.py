"""The ``moor`` entry point: client commands plus the server-side ``server`` and ``setup``.

Every command's module is imported only when that command runs (``moor apps`` loads
cli/apps.py, not the container builder or the Kubernetes converter), so a command starts
in the time Python, click, httpx and its own module take. ``tests/unit/test_cli_lazy.py``
checks that this table names every command each module defines.
"""

from __future__ import annotations

import os
import sys

from moorage.cli.base import cli

MODULES: dict[str, tuple[str, ...]] = {
    "moorage.cli.access": ("access", "access:add", "access:remove"),
    "moorage.cli.addons": (
        "addons",
        "addons:attach",
        "addons:create",
        "addons:destroy",
        "addons:detach",
        "addons:info",
    ),
    "moorage.cli.apps": (
        "apps",
        "apps:create",
        "apps:destroy",
        "apps:info",
        "apps:join",
        "apps:leave",
        "apps:update",
    ),
    "moorage.cli.auth": ("auth:token", "auth:whoami", "info", "login"),
    "moorage.cli.builds": ("builds", "builds:info", "builds:output", "builds:cancel"),
    "moorage.cli.repo": ("repo", "repo:link", "repo:unlink"),
    "moorage.cli.reviewapps": (
        "reviewapps",
        "reviewapps:create",
        "reviewapps:destroy",
        "reviewapps:disable",
        "reviewapps:enable",
    ),
    "moorage.cli.config": ("config", "config:get", "config:set", "config:unset"),
    "moorage.cli.container": (
        "container:login",
        "container:push",
        "container:release",
    ),
    "moorage.cli.images": ("registry", "registry:login", "registry:logout"),
    "moorage.cli.domains": ("domains", "domains:add", "domains:remove", "domains:verify"),
    "moorage.cli.logs": ("logs",),
    "moorage.cli.pg": (
        "pg:backups",
        "pg:backups:capture",
        "pg:backups:delete",
        "pg:backups:download",
        "pg:backups:info",
        "pg:backups:restore",
        "pg:backups:schedule",
        "pg:backups:unschedule",
        "pg:connection-pooling:attach",
        "pg:credentials:rotate",
        "pg:info",
        "pg:promote",
        "pg:psql",
        "pg:unfollow",
    ),
    "moorage.cli.pipelines": (
        "pipelines",
        "pipelines:add",
        "pipelines:create",
        "pipelines:destroy",
        "pipelines:info",
        "pipelines:promote",
        "pipelines:remove",
    ),
    "moorage.cli.ps": (
        "ps",
        "ps:check",
        "ps:port",
        "ps:resize",
        "ps:restart",
        "ps:scale",
        "ps:stop",
        "ps:type",
    ),
    "moorage.cli.releases": ("releases", "releases:info", "releases:rollback", "rollback"),
    "moorage.cli.run": ("ps:exec", "run", "run:detached"),
    "moorage.cli.schedules": (
        "drains",
        "drains:add",
        "drains:remove",
        "schedules",
        "schedules:add",
        "schedules:remove",
    ),
    "moorage.cli.volumes": (
        "volumes",
        "volumes:create",
        "volumes:destroy",
        "volumes:export",
        "volumes:import",
        "volumes:mount",
        "volumes:unmount",
    ),
}
"""Client command modules and the commands each registers on import."""

cli.lazy.update({name: module for module, names in MODULES.items() for name in names})
cli.lazy.update(
    {
        "server": "moorage.admin.server:server",
        "setup": "moorage.admin.server:setup",
        "nodes": "moorage.admin.nodes:nodes",
        "nodes:add": "moorage.admin.nodes:nodes_add",
        "nodes:drain": "moorage.admin.nodes:nodes_drain",
        "nodes:activate": "moorage.admin.nodes:nodes_activate",
        "nodes:remove": "moorage.admin.nodes:nodes_remove",
        "stack:build": "moorage.admin.stack:stack_build",
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
    # httpcore imports trio whenever it is installed (selenium, a test dependency, brings
    # it), which costs `moor` 60 ms at every start; no command runs under trio.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    # httpx imports its own command line client (and with it pygments) whenever click and
    # rich are installed, as they are here: 38 ms at every start for a program never run.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    # pydantic looks for plugins among every installed package's entry points when the
    # first model is built (19 ms); Moorage uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cli()
