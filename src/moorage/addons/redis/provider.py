"""The ``redis`` add-on: one redis-server per add-on, each with its own port and data dir.

Apps get one of two ACL users, ``app_a`` and ``app_b``: :meth:`RedisProvider.rotate` resets
the one the app does not use, :meth:`RedisProvider.retire` deletes the other (ACL DELUSER
closes its connections). The provider itself uses the instance's ``moorage`` admin user.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import redis

from moorage.addons.ports import allocate
from moorage.addons.redis.instance import Instance, new_password, scrub
from moorage.addons.rootdir import locked
from moorage.errors import ComponentFailed, InvalidParams

RESOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
APP_USERS = ("app_a", "app_b")
# Everything but administration: no CONFIG, ACL, SHUTDOWN, DEBUG, MODULE, MONITOR, CLIENT KILL,
# REPLICAOF, SAVE, MIGRATE, RESTORE... The @dangerous commands apps routinely use come back.
APP_CATEGORIES = ("+@all", "-@admin", "-@dangerous")
APP_COMMANDS = ("+info", "+keys", "+flushdb", "+flushall", "+sort", "+sort_ro", "+swapdb")


def _set_user(conn: redis.Redis, user: str, password: str) -> None:
    """(Re)create app ``user`` with ``password`` as its only password; persist the ACLs."""
    conn.acl_setuser(
        user,
        reset=True,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        categories=APP_CATEGORIES,
        commands=APP_COMMANDS,
    )
    conn.acl_save()


class RedisProvider:
    """Redis add-ons under ``root`` (one directory each), reachable at ``public_host``.

    Servers bind to ``listen`` (loopback plus the Docker bridge gateway in production) and
    take their ports from ``ports``; a port stays with its instance until deprovision. A
    listen address written ``-addr`` is optional: redis skips it when it cannot bind it."""

    service = "redis"
    attachment = "REDIS"

    def __init__(self, root: Path, public_host: str, listen: list[str], ports: range) -> None:
        if not listen:
            raise InvalidParams("The redis add-on needs at least one listen address.")
        self.root = root
        self.public_host = public_host
        self.listen = listen
        self.ports = ports

    def _instance(self, resource: str) -> Instance:
        if not RESOURCE_RE.fullmatch(resource):
            raise InvalidParams(
                f"{resource!r} is not a valid redis add-on name: use 3 to 63 lowercase letters, "
                "digits and underscores, starting with a letter."
            )
        return Instance(self.root, resource, self.listen)

    def _lock(self) -> AbstractContextManager[None]:
        return locked(self.root, "redis add-ons")

    def _allocate(self) -> int:
        """The lowest port of ``ports`` that no instance records and nothing listens on."""
        taken = [Instance(self.root, d.name, self.listen).port or 0 for d in self.root.iterdir()]
        return allocate(self.ports, taken, self.listen, "a redis add-on")

    def _url(self, inst: Instance, user: str, password: str) -> str:
        return f"redis://{user}:{quote(password, safe='')}@{self.public_host}:{inst.port}"

    def _credential(self, inst: Instance, url: str) -> tuple[str, str]:
        """(user, password) of ``url`` when it is an app credential of ``inst``."""
        try:
            parts = urlsplit(url)
            scheme, user, password = parts.scheme, parts.username or "", parts.password or ""
        except ValueError:
            scheme = user = password = ""
        user, password = unquote(user), unquote(password)
        if scheme not in ("redis", "rediss") or user not in APP_USERS or not password:
            raise InvalidParams(
                f"The URL given for redis add-on {inst.resource} is not one of its app "
                f"credentials (redis://{'|'.join(APP_USERS)}:<password>@host:port)."
            )
        return user, password

    def plan_name(self, plan: str) -> str:
        """``redis``, ``redis:mini``, ``heroku-redis:mini`` (``basic``: the older name)."""
        name = plan.partition(":")[2] or "mini"
        if name not in ("mini", "basic"):
            raise InvalidParams(f"Unknown redis plan {name!r}. Plans: mini.")
        return "redis:mini"

    def provision(self, resource: str, plan: str = "redis:mini") -> str:
        """Create the instance (directory, port, server) unless it exists, start it if it
        is stopped, and return ``redis://app_a:<new password>@public_host:port``.

        Again on an existing resource: keeps its data and port, resets ``app_a``'s password."""
        inst = self._instance(resource)
        with self._lock():
            if inst.port is None:
                inst.create(self._allocate())
            inst.ensure_running()
        password = new_password()
        user = APP_USERS[0]
        inst.admin_call(
            "create its app credentials", lambda c: _set_user(c, user, password), [password]
        )
        return self._url(inst, user, password)

    def deprovision(self, resource: str) -> None:
        """Stop the server (by PID, waiting for it to exit) and delete its directory and data.
        Does nothing for a resource that does not exist."""
        inst = self._instance(resource)
        if not inst.dir.exists():
            return
        with self._lock():
            inst.remove()

    def rotate(self, resource: str, current_url: str) -> str:
        """Reset the app user that ``current_url`` does not use with a new password and
        return its URL; ``current_url`` keeps working until :meth:`retire`."""
        inst = self._instance(resource)
        current, _ = self._credential(inst, current_url)
        user = APP_USERS[1] if current == APP_USERS[0] else APP_USERS[0]
        password = new_password()
        inst.admin_call(
            "rotate its credentials", lambda c: _set_user(c, user, password), [password]
        )
        return self._url(inst, user, password)

    def retire(self, resource: str, keep_url: str) -> None:
        """Delete every app user but ``keep_url``'s (closing their connections) and drop any
        other password of the kept one. Changes nothing unless ``keep_url`` works."""
        inst = self._instance(resource)
        keep, password = self._credential(inst, keep_url)
        try:
            with inst.client(keep, password) as conn:
                conn.ping()
        except redis.AuthenticationError:
            raise InvalidParams(
                f"The credentials to keep do not work on redis add-on {resource}; nothing was "
                "retired. Rotate or provision it to get working credentials."
            ) from None
        except redis.RedisError as exc:
            raise ComponentFailed(
                f"Redis add-on {resource} (port {inst.port}) could not be reached to check the "
                f"credentials to keep: {scrub(str(exc), [password])}. Nothing was retired; "
                "restart moor server (ensure_running) and try again."
            ) from None
        others = [u for u in APP_USERS if u != keep]

        def apply(conn: redis.Redis) -> None:
            conn.acl_deluser(*others)
            conn.acl_setuser(keep, enabled=True, reset_passwords=True, passwords=[f"+{password}"])
            conn.acl_save()

        inst.admin_call("retire old credentials", apply, [password])

    def info(self, resource: str) -> dict[str, str]:
        """Version, port, memory, app connections, key count and persistence of the server."""
        inst = self._instance(resource)
        if inst.port is None:
            raise ComponentFailed(f"Redis add-on {resource} does not exist on this host.")
        facts = inst.admin_call("report its status", lambda c: c.info())
        keys = sum(v["keys"] for k, v in facts.items() if re.fullmatch(r"db\d+", k))
        return {
            "version": str(facts["redis_version"]),
            "port": str(inst.port),
            "used_memory_human": str(facts["used_memory_human"]),
            "maxmemory_human": str(facts["maxmemory_human"]),
            "connected_clients": str(int(facts["connected_clients"]) - 1),  # minus our own
            "keys": str(keys),
            "appendonly": "yes" if facts["aof_enabled"] else "no",
            "aof_last_write_status": str(facts["aof_last_write_status"]),
            "uptime_in_seconds": str(facts["uptime_in_seconds"]),
        }

    def ensure_running(self, resources: list[str]) -> None:
        """Adopt the live servers of ``resources`` and start the stopped ones; every
        resource is tried, then one :class:`ComponentFailed` names all that failed."""
        instances = [self._instance(r) for r in resources]
        failures: list[str] = []
        with self._lock():
            for inst in instances:
                try:
                    inst.ensure_running()
                except ComponentFailed as exc:
                    failures.append(exc.message)
        if failures:
            raise ComponentFailed(" ".join(failures))
