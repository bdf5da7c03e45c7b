"""Postgres and Redis (workloads, chart dependencies, external hosts) -> add-ons.

:func:`databases` finds them: by image (``postgres``, ``bitnami/postgresql``, ``redis``...),
by Helm chart dependency, or, with :func:`external`, by env values that name a Postgres or
Redis host defined nowhere in the manifests. :func:`rewrite` then replaces, in an app's env,
every variable that reached the database (host, ``host:port``, URL, credentials) with a
template of the add-on's URL, and reports each rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from moorage.convert.kinds import dicts, finding, image_base
from moorage.convert.kinds.config import EnvVar
from moorage.convert.kinds.services import ServiceInfo, selects
from moorage.convert.kinds.workloads import Workload
from moorage.convert.model import Finding, Source

Service = Literal["postgresql", "redis"]
IMAGES: dict[str, Service] = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "postgresql-repmgr": "postgresql",
    "redis": "redis",
    "redis-stack-server": "redis",
}
CHARTS: dict[str, Service] = {
    "postgresql": "postgresql",
    "postgresql-ha": "postgresql",
    "redis": "redis",
    "redis-cluster": "redis",
}
PORTS: dict[Service, int] = {"postgresql": 5432, "redis": 6379}
ATTACHMENT: dict[Service, str] = {"postgresql": "DATABASE", "redis": "REDIS"}
SCHEMES: dict[str, Service] = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "redis": "redis",
    "rediss": "redis",
}
PREFIXES: dict[Service, tuple[str, ...]] = {
    "postgresql": ("POSTGRES_", "POSTGRESQL_", "PG", "DB_", "DATABASE_"),
    "redis": ("REDIS_",),
}
_NOT_A_SERVER = re.compile(r"exporter|commander|insight|operator|sentinel|pgadmin|pgbouncer|proxy")
_REPLICA = re.compile(r"replica|slave|secondary|read", re.I)
_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("password", ("PASSWORD", "PASSWD", "PASS", "PWD")),
    ("user", ("USERNAME", "USER", "LOGIN")),
    ("url", ("CONNECTION_STRING", "URL", "URI", "DSN")),
    ("addr", ("ADDRESS", "ADDR")),
    ("host", ("SERVICE_HOST", "HOSTNAME", "HOST", "SERVER")),
    ("port", ("SERVICE_PORT", "PORT")),
    ("database", ("DATABASE_NAME", "DB_NAME", "DBNAME", "DATABASE", "DB", "NAME")),
)
_EXTERNAL_KEYS: dict[str, Service] = {
    "POSTGRES_HOST": "postgresql",
    "POSTGRESQL_HOST": "postgresql",
    "PGHOST": "postgresql",
    "REDIS_HOST": "redis",
    "REDIS_ADDR": "redis",
}
_TEMPLATE = {
    "host": "{host}",
    "port": "{port}",
    "user": "{user}",
    "password": "{password}",
    "database": "{database}",
    "addr": "{host}:{port}",
}


@dataclass
class Database:
    """A database the add-on replaces: what reached it, and what it was made of."""

    service: Service
    name: str
    attachment: str = ""
    hosts: set[str] = field(default_factory=set)
    suffix: str | None = None  # a chart dependency: any "<release>-<chart>" host name
    sources: list[Source] = field(default_factory=list)
    consumed: list[EnvVar] = field(default_factory=list)  # env of the database container
    external: bool = False

    def reaches(self, host: str) -> bool:
        """Whether ``host`` (a Service name, FQDN or chart name) is this database."""
        h = host.lower().rstrip(".")
        if h in self.hosts:
            return True
        return self.suffix is not None and (h == self.suffix or h.endswith("-" + self.suffix))

    @property
    def url_var(self) -> str:
        return f"{self.attachment}_URL"


def service_of(w: Workload) -> Service | None:
    """Postgres or Redis when the main container runs one (by image, or name and port)."""
    base = image_base(w.image)
    if _NOT_A_SERVER.search(base):
        return None
    if base in IMAGES:
        return IMAGES[base]
    found = [p.get("containerPort") for p in dicts(w.main.get("ports"))]
    ports = {p for p in found if isinstance(p, int)}
    for service, port in PORTS.items():
        if port in ports and service[:5] in base:
            return service
    return None


def names_for(svc: ServiceInfo) -> set[str]:
    """The host names a Service answers to inside the cluster."""
    ns = svc.obj.namespace or "default"
    base = svc.name.lower()
    return {base, f"{base}.{ns}", f"{base}.{ns}.svc", f"{base}.{ns}.svc.cluster.local"}


def databases(
    found: list[tuple[Workload, Service, list[EnvVar]]],
    services: list[ServiceInfo],
    charts: list[tuple[Source, Service]],
) -> tuple[list[Database], list[Finding]]:
    """One :class:`Database` per database workload (read replicas merged into their
    primary) and per database chart dependency, with attachment names assigned.

    ``found`` pairs each database workload with its service and resolved env (which
    configured the server and is consumed, not copied to apps).
    """
    dbs: list[Database] = []
    out: list[Finding] = []
    for w, service, env in sorted(found, key=lambda f: bool(_REPLICA.search(f[0].name))):
        fronts = [s for s in services if selects(s, w.obj, w.labels)]
        hosts = {h for s in fronts for h in names_for(s)}
        sources = [w.obj.source, *(s.obj.source for s in fronts)]
        primary = next((d for d in dbs if d.service == service and not d.external), None)
        if primary is not None and _REPLICA.search(w.name):
            primary.hosts |= hosts
            primary.sources += sources
            primary.consumed += env
            out.append(_replaced(w, service, fronts, f"a read replica of {primary.name}"))
            continue
        dbs.append(Database(service, w.name, "", hosts, None, sources, list(env)))
        out.append(_replaced(w, service, fronts, ""))
        out += _server_notes(w, env)
    for source, service in charts:
        dbs.append(Database(service, source.name, "", {source.name}, source.name, [source]))
        out.append(
            finding(
                "info",
                source,
                f"Chart dependency {source.name} is replaced by the {service} add-on; the "
                f"release's {source.name} Service and Secret names are rewritten to it.",
                "To keep existing data, dump it and restore it into the add-on.",
            )
        )
    assign_attachments(dbs)
    return dbs, out


def assign_attachments(dbs: list[Database]) -> None:
    """DATABASE / REDIS for the first of each service; the others by their name."""
    taken: set[str] = set()
    for db in dbs:
        if db.attachment:
            taken.add(db.attachment)
    for db in dbs:
        if db.attachment:
            continue
        name = ATTACHMENT[db.service]
        if name in taken:
            name = re.sub(r"[^A-Z0-9]+", "_", db.name.upper()).strip("_") or name
            name = name if name[0].isalpha() else f"DB_{name}"
        while name in taken:
            name += "_2"
        db.attachment = name
        taken.add(name)


def _replaced(w: Workload, service: Service, fronts: list[ServiceInfo], role: str) -> Finding:
    names = ", ".join(f"Service {s.name}" for s in fronts)
    also = f" (and {names})" if names else ""
    what = f", {role}," if role else ""
    return finding(
        "info",
        w.obj,
        f"{w.obj.kind} {w.name} ({w.image}){what}{also} is replaced by the {service} add-on.",
        "Its data is not moved: dump it and restore it into the add-on if it matters.",
    )


def _server_notes(w: Workload, env: list[EnvVar]) -> list[Finding]:
    out = []
    if env:
        keys = ", ".join(v.key for v in env)
        out.append(
            finding(
                "info",
                w.obj,
                f"{keys} configured the database server itself; the add-on creates its own "
                "user, password and database, so they are not copied to any app.",
                "Nothing to do.",
            )
        )
    if w.main.get("command") or w.main.get("args"):
        out.append(
            finding(
                "info",
                w.obj,
                f"Server options of {w.name} (its command/args) are not carried over.",
                "Check that the add-on's defaults suit the app.",
            )
        )
    return out


def parse_host(value: str) -> tuple[str, str] | None:
    """(form, host) when ``value`` names a host.

    Forms: ``url``, ``jdbc`` (a JDBC URL), ``addr`` (``host:port``) or ``host``.
    """
    v = value.strip()
    if v.startswith("jdbc:"):
        v = v[5:]
        form = "jdbc"
    else:
        form = "url"
    if "://" in v:
        try:
            host = urlsplit(v).hostname
        except ValueError:
            return None
        return (form, host) if host else None
    m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d+))?", v)
    if not m:
        return None
    return ("addr", m.group(1)) if m.group(2) else ("host", m.group(1))


def external(env: Iterable[EnvVar], known: set[str]) -> dict[str, Service]:
    """Hosts of Postgres/Redis servers the env names that are not in ``known`` (host names of
    the manifests' own Services): a database installed separately, e.g. by another chart.
    """
    out: dict[str, Service] = {}
    for var in env:
        parsed = parse_host(var.value) if var.value else None
        if parsed is None or parsed[1].lower() in known or parsed[1] in ("localhost", "127.0.0.1"):
            continue
        scheme = (var.value or "").removeprefix("jdbc:").split("://", 1)[0].split("+")[0].lower()
        service = (
            SCHEMES.get(scheme) if parsed[0] in ("url", "jdbc") else _EXTERNAL_KEYS.get(var.key)
        )
        if service is not None:
            out.setdefault(parsed[1].lower(), service)
    return out


def _template(var: EnvVar, db: Database) -> str | None:
    parsed = parse_host(var.value) if var.value else None
    if parsed is None or not db.reaches(parsed[1]):
        return None
    form = parsed[0]
    if form == "jdbc":
        return "jdbc:postgresql://{host}:{port}/{database}"
    if form == "url":
        url = urlsplit((var.value or "").strip())
        if url.scheme in SCHEMES and (db.service == "postgresql" or url.path in ("", "/")):
            return "${" + db.url_var + "}"
        path = "/{database}" if db.service == "postgresql" else url.path
        return f"{url.scheme}://{{user}}:{{password}}@{{host}}:{{port}}{path}"
    return _TEMPLATE[form]


def _role(key: str, service: Service) -> tuple[str | None, set[str]]:
    """The role a key's suffix gives it (``POSTGRES_PASSWORD`` -> password) and every
    prefix it can be read with (``DB_NAME`` -> ``DB`` or empty)."""
    k = key.upper()
    for role, suffixes in _ROLES:
        if role == "database" and service == "redis":
            continue  # REDIS_DB is an index, not a database name
        prefixes = {k[: -len(s)].rstrip("_") for s in suffixes if k.endswith(s)}
        if prefixes:
            return role, prefixes
    return None, set()


def rewrite(
    env: list[EnvVar], dbs: list[Database]
) -> tuple[list[EnvVar], dict[int, dict[str, str]]]:
    """Split an app's env into what it keeps and, per database index, the rewrites.

    A variable whose value names the database (host, host:port, URL, JDBC URL) is rewritten,
    and so are its siblings with the same prefix (``POSTGRES_HOST`` -> ``POSTGRES_PASSWORD``,
    ``POSTGRES_DB``...), the standard prefixes of that service (``PG*``, ``REDIS_*``...) and
    variables that carry the same Secret key or value as the database's own credentials.
    """
    found: dict[int, dict[str, str]] = {}
    prefixes: dict[int, set[str]] = {}
    for var in env:
        role, known = _role(var.key, "postgresql")
        if role in ("password", "user", "database", "port"):
            continue  # a password that happens to equal a host name is still a password
        for i, db in enumerate(dbs):
            template = _template(var, db)
            if template is not None:
                found.setdefault(i, {})[var.key] = template
                prefixes.setdefault(i, set()).update(known if role else {var.key.upper()})
                break
    for i in list(found):
        db = dbs[i]
        wanted = prefixes[i] | {p.rstrip("_") for p in PREFIXES[db.service]}
        others = {k for j, r in found.items() if j != i for k in r}
        for var in env:
            if var.key in found[i] or var.key in others:
                continue
            template = _sibling(var, db, wanted)
            if template is not None:
                found[i][var.key] = template
    rewritten = {k for r in found.values() for k in r}
    return [v for v in env if v.key not in rewritten], found


def _sibling(var: EnvVar, db: Database, wanted: set[str]) -> str | None:
    same = [c for c in db.consumed if (var.ref and c.ref == var.ref) or _same_secret(c, var)]
    role, prefixes = _role(var.key, db.service)
    if same:
        role = _role(same[0].key, db.service)[0] or role
    elif not prefixes & wanted or role in ("url", "addr"):
        return None
    if role is None:
        return None
    return "${" + db.url_var + "}" if role == "url" else _TEMPLATE[role]


def _same_secret(server: EnvVar, var: EnvVar) -> bool:
    return bool(server.secret and var.value and len(var.value) >= 4 and server.value == var.value)


def missing_ref_reaches(name: str, dbs: list[Database]) -> bool:
    """Whether a missing Secret/ConfigMap ``name`` belongs to a database chart (e.g. the
    ``<release>-postgresql`` Secret of the Bitnami chart), so the add-on explains it."""
    return any(db.suffix is not None and db.reaches(name) for db in dbs)


def masked(var: EnvVar) -> str:
    """The value for a report: secrets and URL passwords hidden."""
    if var.value is None:
        return f"({var.ref[0]} {var.ref[1]})" if var.ref else "(unset)"
    if var.secret and "://" not in var.value:
        return "(secret)"
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", var.value)


_STATEFUL = frozenset(
    {
        "mysql",
        "mariadb",
        "mongo",
        "mongodb",
        "cassandra",
        "elasticsearch",
        "opensearch",
        "rabbitmq",
        "kafka",
        "zookeeper",
        "etcd",
        "minio",
        "memcached",
        "nats",
        "couchdb",
    }
)


def other_store(w: Workload) -> Finding | None:
    """A warning when the workload runs a data store Moorage has no add-on for."""
    base = image_base(w.image)
    if base not in _STATEFUL:
        return None
    return finding(
        "warning",
        w.obj,
        f"{w.obj.kind} {w.name} runs {base}, which has no Moorage add-on: it becomes a process, "
        "whose disk is lost at every restart.",
        f"Run {base} outside the platform (or use postgresql/redis) and set its URL in config.",
    )
