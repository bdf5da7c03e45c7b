"""The whole Kubernetes -> Moorage mapping: :func:`convert`. Pure: no I/O.

1. Read: later duplicates replace earlier ones (as ``kubectl apply`` does); each object is
   sorted by kind; containers' env is resolved; Postgres/Redis become databases.
2. Draft apps: each workload behind a Service (or Ingress) is the ``web`` process of an
   app; the others become workers of the app they belong to (see
   :func:`moorage.convert.kinds.apps.owner`), or worker-only apps; Jobs and CronJobs join
   the app that runs their image.
3. Build each :class:`AppPlan` (processes, config, add-ons, aliases, domains, release
   phase, schedules, autoscale), then group-wide passes: databases no env names are
   attached to every app, ``<alias>:<service port>`` in config becomes the container port,
   and every object not used by a plan gets a finding (:meth:`Conversion.uncovered` is empty).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from moorage.convert.kinds import WORKLOAD_KINDS, as_dict, dicts, finding, pod_spec, slug, text
from moorage.convert.kinds.addons import attach_unreferenced, split_databases
from moorage.convert.kinds.apps import Context, Draft, build_app, merge_drafts, owner
from moorage.convert.kinds.config import ConfigStore, EnvResult, config_store, resolve_env
from moorage.convert.kinds.databases import Database
from moorage.convert.kinds.group import place_autoscalers, place_ingresses, port_rewrites
from moorage.convert.kinds.hpa import Autoscale, autoscale
from moorage.convert.kinds.ingress import Route, routes
from moorage.convert.kinds.jobs import is_test_hook, job_plan, test_hook
from moorage.convert.kinds.literals import move_literal_secrets
from moorage.convert.kinds.privacy import mark_private
from moorage.convert.kinds.pullsecrets import pull_logins
from moorage.convert.kinds.services import ServiceInfo, exposure, selects, service_info
from moorage.convert.kinds.unsupported import unsupported
from moorage.convert.kinds.workloads import Workload, workload
from moorage.convert.model import AppPlan, Conversion, Finding, K8sObject, Source
from moorage.errors import InvalidParams
from moorage.spec.names import validate_app_name

GENERIC_DIRS = frozenset(
    "templates spec specs k8s kube kubernetes manifests deploy deployment deployments chart "
    "charts helm helm-chart release base overlays k8s-specifications yaml".split()
)


@dataclass
class _State:
    """What reading the objects found, shared by the later steps."""

    objects: list[K8sObject]
    findings: list[Finding]
    store: ConfigStore
    workloads: list[Workload] = field(default_factory=list)
    services: list[ServiceInfo] = field(default_factory=list)
    routes: list[tuple[K8sObject, list[Route]]] = field(default_factory=list)
    jobs: list[K8sObject] = field(default_factory=list)
    hpas: list[Autoscale] = field(default_factory=list)
    envs: dict[Source, EnvResult] = field(default_factory=dict)
    dbs: list[Database] = field(default_factory=list)
    present: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) of the objects


def convert(
    objects: list[K8sObject],
    extra: list[Finding] | None = None,
    *,
    app: str | None = None,
    group: str | None = None,
    folder: str | None = None,
) -> Conversion:
    """Turn Kubernetes objects (and the loader's findings ``extra``) into Moorage apps.

    ``app`` names the app when the objects make one (or forces them into one: the first
    web workload stays ``web``); ``group`` names the group of several apps (default: the
    namespace most workloads share, else the folder of the files, else ``folder``, the
    input's own folder name). Guarantees: every object is used by a
    plan or named by a finding (``uncovered() == []``); app names, process types and config
    keys are valid Moorage names; secret values only appear in :class:`ConfigVar` s marked
    secret. Raises :class:`InvalidName` for an invalid ``app``/``group`` (same rule as app
    names) and nothing else: malformed manifests become findings.
    """
    if app is not None:
        validate_app_name(app)
    if group is not None:
        validate_app_name(group)
    st = _read(objects, list(extra or []))
    drafts = _drafts(st, app)
    _name(drafts, app, st)
    known = {key: obj.source for key, obj in st.store.objects.items()}
    ctx = Context(st.envs, st.dbs, known, st.findings)
    plans = [build_app(d, ctx) for d in drafts]
    app_of = {s.name: d.name for d in drafts for s in d.services}
    place_ingresses(st.routes, {p.name: p for p in plans}, app_of, st.findings)
    mark_private(drafts, plans, st.findings)
    place_autoscalers(st.hpas, drafts, plans, st.findings)
    attach_unreferenced(st.dbs, plans, st.findings)
    port_rewrites(drafts, plans, st.findings)
    pull_logins(drafts, plans, st.store, st.findings)
    move_literal_secrets(plans, _secret_values(st, plans), st.findings)
    _cover(st, plans, objects)
    named = _group(st, group, len(plans), folder)
    return Conversion(plans, named, st.findings, list(objects))


def _read(objects: list[K8sObject], extra: list[Finding]) -> _State:
    kept, findings = _dedupe(objects)
    store, notes = config_store(kept)
    st = _State(kept, extra + findings + notes, store)
    st.present = {(o.kind, o.name) for o in kept}
    found: list[Workload] = []
    for obj in kept:
        _classify(st, obj, found)
    for w in found:
        st.envs[w.obj.source] = resolve_env(w.obj, w.main, store)
    for obj in st.jobs:
        first = next(iter(dicts(pod_spec(obj).get("containers"))), {})
        st.envs[obj.source] = resolve_env(obj, first, store)
    st.workloads, st.dbs, notes = split_databases(found, st.envs, st.services, extra, store)
    st.findings += notes
    return st


def _dedupe(objects: list[K8sObject]) -> tuple[list[K8sObject], list[Finding]]:
    """The last definition of each (kind, name) wins; a namespace left out matches any."""
    kept: list[K8sObject] = []
    seen: dict[tuple[str, str], list[int]] = {}
    out: list[Finding] = []
    for obj in objects:
        same = [
            i
            for i in seen.get((obj.kind, obj.name), [])
            if kept[i].namespace == obj.namespace or not kept[i].namespace or not obj.namespace
        ]
        if not same:
            seen.setdefault((obj.kind, obj.name), []).append(len(kept))
            kept.append(obj)
            continue
        old, kept[same[0]] = kept[same[0]], obj
        equal = old.body == obj.body
        where = f"{obj.source.file}:{obj.source.line}"
        out.append(
            finding(
                "info" if equal else "warning",
                old,
                f"{obj.kind} {obj.name} is defined again at {where}"
                + (
                    "."
                    if equal
                    else " with other content; the later one is used, as kubectl apply would."
                ),
                "Nothing to do." if equal else "Remove the definition you do not want.",
            )
        )
    return kept, out


def _classify(st: _State, obj: K8sObject, found: list[Workload]) -> None:
    """Sort one object by kind into ``st`` (or report it as unsupported)."""
    refs = dicts(as_dict(obj.body.get("metadata")).get("ownerReferences"))
    owners = [o for o in refs if (text(o.get("kind")), text(o.get("name"))) in st.present]
    if obj.kind in ("ConfigMap", "Secret"):
        return
    if owners and obj.kind in WORKLOAD_KINDS | {"Job"}:
        who = ", ".join(f"{text(o.get('kind'))} {text(o.get('name'))}" for o in owners)
        st.findings.append(
            finding("info", obj, f"Created by {who}; converted through it.", "Nothing to do.")
        )
    elif is_test_hook(obj):
        st.findings.append(test_hook(obj))
    elif obj.kind in WORKLOAD_KINDS:
        w = workload(obj)
        if w is None:
            st.findings.append(
                finding("error", obj, f"{obj.kind} {obj.name} has no container.", "Fix it.")
            )
        else:
            found.append(w)
    elif obj.kind == "Service":
        st.services.append(service_info(obj))
    elif obj.kind == "Ingress":
        st.routes.append((obj, routes(obj)))
    elif obj.kind in ("Job", "CronJob"):
        st.jobs.append(obj)
    elif obj.kind == "HorizontalPodAutoscaler":
        a = autoscale(obj)
        if a is None:
            st.findings.append(
                finding("warning", obj, f"HPA {obj.name} names no target.", "Drop it.")
            )
        else:
            st.hpas.append(a)
    else:
        st.findings.append(unsupported(obj))


def _drafts(st: _State, app: str | None) -> list[Draft]:
    """One draft per served workload, then workers, duplicates and jobs placed."""
    db_sources = {s for d in st.dbs for s in d.sources}
    services = [s for s in st.services if s.obj.source not in db_sources]
    routed = {r.service for _, rs in st.routes for r in rs}
    drafts: list[Draft] = []
    workers: list[Workload] = []
    claimed: set[Source] = set()
    for w in st.workloads:
        fronts = [s for s in services if selects(s, w.obj, w.labels) and s.type != "ExternalName"]
        if any(s.ports or s.name in routed for s in fronts):
            mine = [s for s in fronts if s.obj.source not in claimed]
            _shared_services(st, w, [s for s in fronts if s.obj.source in claimed])
            claimed |= {s.obj.source for s in mine}
            drafts.append(Draft(w.name, w, mine))
        else:
            workers.append(w)
    if app is not None and len([d for d in drafts if d.web]) > 1:
        drafts = [merge_drafts(drafts, st.findings)]
    _place_workers(st, drafts, workers)
    _place_jobs(st, drafts)
    for s in services:
        if s.obj.source not in claimed:
            st.findings += exposure(s, None)
    return drafts


def _shared_services(st: _State, w: Workload, shared: list[ServiceInfo]) -> None:
    for s in shared:
        st.findings.append(
            finding(
                "warning",
                s.obj,
                f"Service {s.name} selects several workloads; its name goes to the first, not "
                f"to {w.name}.",
                "Give each workload its own Service (Moorage apps have their own names).",
            )
        )


def _place_workers(st: _State, drafts: list[Draft], workers: list[Workload]) -> None:
    """Workers join the app that owns them (:func:`owner`), else become worker-only apps."""
    if not drafts and workers:
        drafts.append(Draft(workers[0].name, None, [], list(workers)))
        if len(workers) > 1:
            st.findings.append(
                finding(
                    "info",
                    workers[0].obj,
                    "No workload is behind a Service: the workers "
                    f"{', '.join(w.name for w in workers)} make one app.",
                    "Split them with separate conversions if they are separate apps.",
                )
            )
        return
    several = len([d for d in drafts if d.web]) > 1
    for w in workers:
        home = owner(w, drafts)
        if home is None:
            drafts.append(Draft(w.name, None, [], [w]))
            why = "there are several web apps and none runs its image or prefixes its name"
            st.findings.append(
                finding(
                    "info",
                    w.obj,
                    f"{w.obj.kind} {w.name} has no Service: it becomes a worker-only app, as "
                    f"{why}.",
                    "Merge it into another app (same image) if it belongs there.",
                )
            )
            continue
        home.workers.append(w)
        how = "same image or name prefix" if several else "the only web app"
        st.findings.append(
            finding(
                "info",
                w.obj,
                f"{w.obj.kind} {w.name} has no Service: it becomes a worker process of the app "
                f"of {home.key} ({how}).",
                "Move it to an app of its own if it does not belong there.",
            )
        )


def _place_jobs(st: _State, drafts: list[Draft]) -> None:
    for obj in st.jobs:
        env = st.envs[obj.source]
        plan = job_plan(obj, {v.key for v in env.vars})
        if plan is None:
            st.findings.append(
                finding("error", obj, f"{obj.kind} {obj.name} has no container.", "Fix it.")
            )
            continue
        st.findings += plan.findings
        if plan.role in ("test", "oneoff"):
            continue
        home = owner(plan, drafts)
        if home is None and plan.role == "schedule":
            home = Draft(obj.name, None, [])
            drafts.append(home)
        if home is None:
            st.findings.append(
                finding(
                    "warning",
                    obj,
                    f"{obj.kind} {obj.name} runs {plan.image}, which no converted app runs; its "
                    "release command is not converted.",
                    "Add it as the release command of the app it migrates (Procfile `release:`).",
                )
            )
            continue
        (home.releases if plan.role == "release" else home.schedules).append(plan)


def _name(drafts: list[Draft], app: str | None, st: _State) -> None:
    """Valid, distinct app names: ``app`` for a single app, else from the workload names."""
    if app is not None and len(drafts) > 1:  # unreachable: _drafts merges under ``app``
        raise InvalidParams(
            f"-a {app} names one app, but the manifests make {len(drafts)}: "
            f"{', '.join(d.key for d in drafts)}. Use --group to import them as a group."
        )
    taken: set[str] = set()
    for d in drafts:
        name = app or slug(d.key)
        n = 2
        while name in taken:
            name = slug(f"{d.key}-{n}")
            n += 1
        taken.add(name)
        d.name = name
        if app is None and name != d.key:
            st.findings.append(
                finding(
                    "info",
                    d.anchor(),
                    f"App name {name!r} made from {d.key!r} (3-30 lowercase letters, digits, "
                    "dashes).",
                    "Rename it at import if you prefer another name.",
                )
            )


def _secret_values(st: _State, plans: list[AppPlan]) -> list[str]:
    """Every value of the Secrets read, and of the apps' secret config vars."""
    out = [
        v for (kind, _), data in st.store.data.items() if kind == "Secret" for v in data.values()
    ]
    return out + [v.value for p in plans for v in p.config if v.secret and v.value]


def _cover(st: _State, plans: list[AppPlan], objects: list[K8sObject]) -> None:
    """Unused ConfigMaps/Secrets get a note; anything else left is reported, never dropped."""
    conversion = Conversion(plans, None, st.findings, list(objects))
    for obj in conversion.uncovered():
        if obj.kind in ("ConfigMap", "Secret"):
            st.findings.append(_unused_config(obj))
        else:
            st.findings.append(
                finding(
                    "warning",
                    obj,
                    f"{obj.kind} {obj.name} was not converted (no rule matched it).",
                    "Check what it did for the app.",
                )
            )


def _unused_config(obj: K8sObject) -> Finding:
    kind = text(obj.body.get("type"))
    if kind == "kubernetes.io/tls":
        why, todo = "a TLS certificate", "Add it to the platform for the app's custom domain."
    elif kind.startswith("kubernetes.io/dockerc"):
        why, todo = (
            "registry credentials no converted workload pulls with",
            "If an app's images need them: `moor registry:login HOST -u USER --password-stdin`.",
        )
    else:
        why, todo = "not used by any converted workload", "Set what the apps need with config:set."
    return finding("info", obj, f"{obj.kind} {obj.name}: {why}; not converted.", todo)


def _group(st: _State, group: str | None, count: int, folder: str | None) -> str | None:
    """``group``; else, for several apps, always one: the namespace most workloads share
    (the workloads' own, not that of an unrelated object), else the input's folder name."""
    if group is not None or count < 2:
        return group
    spaces = Counter(w.obj.namespace for w in st.workloads if w.obj.namespace)
    spaces.pop("default", None)
    if spaces:
        return slug(spaces.most_common(1)[0][0])
    folders = [PurePosixPath(o.source.file).parent for o in st.objects if o.source.file]
    common = folders[0] if folders else PurePosixPath()
    for f in folders[1:]:
        while common != f and common not in f.parents:
            common = common.parent
    names = [p.name for p in (common, *common.parents) if p.name and p.name != "templates"]
    specific = [n for n in names if n not in GENERIC_DIRS]
    return slug((specific or names or [folder or "apps"])[0])
