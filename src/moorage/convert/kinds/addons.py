"""Database workloads, chart dependencies and external hosts -> the add-ons of the apps.

:func:`split_databases` separates Postgres/Redis workloads from the app workloads and adds
the databases named by chart dependencies or by env values; :func:`attach_unreferenced`
gives every app the databases no env var names (their images have the host built in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from moorage.convert.kinds import as_dict, dicts, finding, pod_spec, text
from moorage.convert.kinds.config import ConfigStore, EnvResult, EnvVar
from moorage.convert.kinds.databases import (
    ATTACHMENT,
    CHARTS,
    Database,
    Service,
    assign_attachments,
    databases,
    external,
    names_for,
    other_store,
    parse_host,
    service_of,
)
from moorage.convert.kinds.services import ServiceInfo
from moorage.convert.kinds.workloads import Workload
from moorage.convert.model import AppPlan, Finding, Source


def split_databases(
    found: list[Workload],
    envs: Mapping[Source, EnvResult],
    services: list[ServiceInfo],
    extra: list[Finding],
    store: ConfigStore,
) -> tuple[list[Workload], list[Database], list[Finding]]:
    """The app workloads (databases taken out), the databases, and the findings.

    Databases come from Postgres/Redis workloads (their Services, and the ConfigMaps and
    Secrets only they used, are what the add-on replaces), from the loader's
    ``ChartDependency`` findings on database charts, and from env values naming a
    Postgres/Redis host that no Service of the manifests defines. Attachments are named.
    """
    apps, servers, out = [], [], []
    for w in found:
        service = service_of(w)
        if service is None:
            apps.append(w)
            if (note := other_store(w)) is not None:
                out.append(note)
        else:
            servers.append((w, service, envs[w.obj.source].vars))
    charts = [
        (f.source, CHARTS[f.source.name])
        for f in extra
        if f.source.kind == "ChartDependency" and f.source.name in CHARTS
    ]
    dbs, notes = databases(servers, services, charts)
    out += notes
    for w, _, _ in servers:
        db = next(d for d in dbs if w.obj.source in d.sources)
        db.sources += [s for s in envs[w.obj.source].used if s not in db.sources]
        out += _server_files(w, store)
    out = _keep_unreached(servers, apps, dbs, envs, out)
    known = {h for s in services for h in names_for(s)}
    for w in apps:
        for host, service in external(envs[w.obj.source].vars, known).items():
            if not any(d.reaches(host) for d in dbs):
                dbs.append(Database(service, host, "", {host}, external=True))
                out.append(_external_note(w, host, service))
    assign_attachments(dbs)
    return apps, dbs, out


def _keep_unreached(
    servers: list[tuple[Workload, Service, list[EnvVar]]],
    apps: list[Workload],
    dbs: list[Database],
    envs: Mapping[Source, EnvResult],
    notes: list[Finding],
) -> list[Finding]:
    """A database workload that no app reaches through an env var (the images have its
    host name built in) stays what it was: a workload of its own, private in the group
    under its Service names, since an add-on the code cannot find would break the app."""
    kept = [
        db
        for db in dbs
        if not db.external
        and db.suffix is None
        and not any(_reaches(db, envs[a.obj.source].vars) for a in apps)
    ]
    for gone in kept:
        dbs.remove(gone)
    for w, _, _ in servers:
        db = next((d for d in kept if w.obj.source in d.sources), None)
        if db is None:
            continue
        apps.append(w)
        res = envs[w.obj.source]  # its clients have these built in: keep them as written
        res.vars = [replace(v, literal=True) for v in res.vars]
        notes = [n for n in notes if not (n.source == w.obj.source and "replaced by" in n.why)]
        notes.append(
            finding(
                "warning",
                w.obj,
                f"{w.obj.kind} {w.name} ({w.image}) stays a private process under its Service "
                "name: no app reaches it through env vars the add-on's URL could replace "
                "completely (the images have the host built in, or a Redis host:port without "
                f"the password the {db.service} add-on needs). Its data survives restarts on "
                "a volume where the pod mounted one; elsewhere it is lost when the dyno restarts.",
                f"To move it to the {db.service} add-on, make its clients read "
                f"{ATTACHMENT[db.service]}_URL and import again.",
            )
        )
    return notes


def _reaches(db: Database, env: list[EnvVar]) -> bool:
    """Whether ``env`` reaches ``db`` in a way the add-on's URL can replace completely: for
    Redis, only a URL (the add-on needs its user and password, which a bare host:port
    variable cannot carry)."""
    for var in env:
        parsed = parse_host(var.value) if var.value else None
        if parsed is None or not db.reaches(parsed[1]):
            continue
        if db.service != "redis" or parsed[0] in ("url", "jdbc"):
            return True
    return False


def _external_note(w: Workload, host: str, service: str) -> Finding:
    in_cluster = "." not in host or host.endswith((".svc", ".svc.cluster.local"))
    return finding(
        "info" if in_cluster else "warning",
        w.obj,
        f"The app reaches a {service} server at {host}, which these manifests do not define "
        f"(installed separately, e.g. by a chart): a {service} add-on replaces it.",
        "Its data is not moved: dump it and restore it into the add-on if it matters"
        + ("." if in_cluster else "; or keep the external server and set its URL yourself."),
    )


def _server_files(w: Workload, store: ConfigStore) -> list[Finding]:
    """ConfigMaps/Secrets mounted into a database server (init scripts, server config)."""
    out = []
    for vol in dicts(pod_spec(w.obj).get("volumes")):
        for kind, key, ref in (
            ("ConfigMap", "configMap", "name"),
            ("Secret", "secret", "secretName"),
        ):
            name = text(as_dict(vol.get(key)).get(ref))
            if key in vol:
                obj = store.objects.get((kind, name))
                out.append(
                    finding(
                        "warning",
                        obj or w.obj,
                        f"{kind} {name}, mounted into the database server {w.name}, is not "
                        "applied to the add-on (init scripts or server settings).",
                        "Run the scripts against the add-on once (pg:psql / redis-cli).",
                    )
                )
    return out


def attach_unreferenced(dbs: list[Database], plans: list[AppPlan], findings: list[Finding]) -> None:
    """A database no app's env names gets no add-on (one is attached only to the apps that
    reference what it replaces), with a warning that says how to add it by hand."""
    for db in dbs:
        if any(
            a.replaces == db.sources and a.attachment == db.attachment
            for p in plans
            for a in p.addons
        ):
            continue
        hosts = ", ".join(sorted(h for h in db.hosts if "." not in h)) or db.name
        first = plans[0].name if plans else "APP"
        findings.append(
            finding(
                "warning",
                db.sources[0] if db.sources else Source("", 0, "Database", db.name),
                f"No env var of any app names {hosts}, so no {db.service} add-on replaces it: "
                "an add-on is attached only to the apps that reference what it replaces.",
                f"If an app needs it, add one (`moor addons:create {db.service} --as "
                f"{db.attachment} -a {first}`) and make the code read {db.url_var}.",
            )
        )
