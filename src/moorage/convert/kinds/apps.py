"""One :class:`AppPlan` from a draft: its workloads, Services and Jobs.

A :class:`Draft` is what :mod:`moorage.convert.plan` decided belongs to one app (see
:func:`owner`); :func:`build_app` turns it into processes, config vars and add-ons (through
:mod:`.env`), aliases, release command and schedules, appending findings to ``ctx.findings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from moorage.convert.kinds import finding, image_repo, slug
from moorage.convert.kinds.config import EnvResult
from moorage.convert.kinds.databases import Database
from moorage.convert.kinds.env import app_env
from moorage.convert.kinds.jobs import JobPlan
from moorage.convert.kinds.pods import pod_findings
from moorage.convert.kinds.services import ServiceInfo, exposure
from moorage.convert.kinds.volumes import volume_needs
from moorage.convert.kinds.workloads import (
    Workload,
    container_port,
    init_steps,
    process,
)
from moorage.convert.model import (
    AppPlan,
    Finding,
    K8sObject,
    Process,
    ScheduledJob,
    Source,
)
from moorage.errors import InvalidParams
from moorage.spec.dyno import validate_command


@dataclass
class Draft:
    """What belongs to one app before it is built."""

    key: str  # the name it came from (workload or CronJob)
    web: Workload | None
    services: list[ServiceInfo]
    workers: list[Workload] = field(default_factory=list)
    duplicates: list[Workload] = field(default_factory=list)
    releases: list[JobPlan] = field(default_factory=list)
    schedules: list[JobPlan] = field(default_factory=list)
    name: str = ""

    def workloads(self) -> list[Workload]:
        """Web first, then workers, then duplicate definitions of the web workload."""
        return ([self.web] if self.web else []) + self.workers + self.duplicates

    def anchor(self) -> Source:
        """The source to attach app-wide findings to."""
        if self.workloads():
            return self.workloads()[0].obj.source
        return (self.schedules + self.releases)[0].obj.source


@dataclass
class Context:
    """What every app build reads, and where findings go."""

    envs: Mapping[Source, EnvResult]
    dbs: list[Database]
    known: Mapping[tuple[str, str], Source]  # ConfigMaps/Secrets in the manifests
    findings: list[Finding]


def owner(item: Workload | JobPlan, drafts: list[Draft]) -> Draft | None:
    """The app a worker (or Job) belongs to, or None when no owner is clear.

    The only web app; else the one app running the same image; else the one whose web
    workload's name prefixes the item's (``shop`` owns ``shop-worker``). Jobs may also join
    worker-only apps.
    """
    pool = [d for d in drafts if d.web is not None] if isinstance(item, Workload) else drafts
    if len(pool) == 1:
        return pool[0]
    repo = image_repo(item.image)
    same = [d for d in pool if any(image_repo(w.image) == repo for w in d.workloads())]
    if len(same) == 1 or (same and not isinstance(item, Workload)):
        return same[0]
    prefixed = [d for d in pool if d.web and item.obj.name.startswith(d.web.name + "-")]
    return prefixed[0] if len(prefixed) == 1 else None


def merge_drafts(drafts: list[Draft], findings: list[Finding]) -> Draft:
    """``-a APP`` with several web workloads: one app; the same image and command as the
    first web is a duplicate definition (spec and chart of the same app), others are workers.
    """
    first = drafts[0]
    assert first.web is not None
    for d in drafts[1:]:
        if d.web is None:
            first.workers += d.workers
            continue
        same = (d.web.image, d.web.main.get("command"), d.web.main.get("args")) == (
            first.web.image,
            first.web.main.get("command"),
            first.web.main.get("args"),
        )
        if same:
            first.duplicates.append(d.web)
            first.services += d.services
            what = "runs the same image and command as the web process and is merged into it"
        else:
            first.workers.append(d.web)
            names = ", ".join(s.name for s in d.services)
            what = f"becomes a worker, no longer reachable as {names} or through the router"
        findings.append(
            finding(
                "info" if same else "warning",
                d.web.obj,
                f"One app was asked for: {d.web.obj.kind} {d.web.name} {what}.",
                "Nothing to do." if same else "Convert without -a to make it an app of its own.",
            )
        )
        if not same:
            findings += [
                finding("warning", s.obj, f"Service {s.name}: see {d.web.name}.", "See above.")
                for s in d.services
            ]
    return first


def build_app(d: Draft, ctx: Context) -> AppPlan:
    """The :class:`AppPlan` of a draft; its findings go to ``ctx.findings``."""
    plan = AppPlan(d.name)
    entries: list[tuple[K8sObject, EnvResult]] = []
    port = web_port(d)
    taken: set[str] = set()
    releases: list[tuple[str, Source]] = []
    for w in d.workloads():
        env = ctx.envs[w.obj.source]
        entries.append((w.obj, env))
        if w in d.duplicates:
            plan.processes[0].sources.append(w.obj.source)
            continue
        ptype = "web" if w is d.web else process_type(w, d, taken)
        taken.add(ptype)
        defined = {v.key for v in env.vars}
        proc, notes = process(w, ptype, port, defined)
        plan.processes.append(proc)
        notes += _volumes(w, plan, proc)
        steps, more = init_steps(w, defined)
        releases += steps
        ctx.findings.extend(notes + more + pod_findings(w, ctx.known))
    for job in d.releases + d.schedules:
        entries.append((job.obj, ctx.envs[job.obj.source]))
    _services(d, plan, ctx)
    app_env(plan, entries, port, ctx.dbs, ctx.findings)
    _release(d, plan, releases, ctx)
    _schedules(d, plan, ctx)
    _check_commands(d, plan, ctx)
    return plan


def _volumes(w: Workload, plan: AppPlan, proc: Process) -> list[Finding]:
    """The process's persistent volumes; with one, it runs one dyno."""
    needs, notes = volume_needs(w, proc.type, {v.name for v in plan.volumes})
    plan.volumes += needs
    if needs and proc.quantity > 1:
        notes.append(
            finding(
                "warning",
                w.obj,
                f"{w.obj.kind} {w.name} asks for {proc.quantity} replicas; with its volume, its "
                f"process {proc.type} runs one dyno (replicas of a data store need its own "
                "replication, which a copy of the pod does not give).",
                "Nothing to do, unless the replicas shared the load: then run them as apps "
                "of their own.",
            )
        )
        proc.quantity = 1
    return notes


def _check_commands(d: Draft, plan: AppPlan, ctx: Context) -> None:
    """Commands the platform refuses (a NUL byte, over 4000 characters) are left out with an
    error finding, so that the files written and the import stay valid."""
    for p in plan.processes:
        where = p.sources[0] if p.sources else d.anchor()
        if p.command is not None and _refused(p.command, p.type, where, ctx):
            p.command = None
    if plan.release_command and _refused(plan.release_command, "release", d.anchor(), ctx):
        plan.release_command = None
    plan.schedules = [
        job
        for job in plan.schedules
        if not _refused(job.command, f"scheduled job {job.name}", job.sources[0], ctx)
    ]


def _refused(command: str, what: str, where: Source, ctx: Context) -> bool:
    try:
        validate_command(command, what)
    except InvalidParams as exc:
        ctx.findings.append(
            finding(
                "error",
                where,
                f"{exc} It was left out of the conversion.",
                "Put the command in a script in the image and run that script instead.",
            )
        )
        return True
    return False


def web_port(d: Draft) -> int | None:
    """The container port behind the first Service port of the web workload."""
    if d.web is None:
        return None
    for s in d.services:
        for p in s.ports:
            found = container_port(d.web, p.target)
            if found:
                return found
    return container_port(d.web)


def process_type(w: Workload, d: Draft, taken: set[str]) -> str:
    """A worker's process type: ``worker`` in a worker-only app, else from its name."""
    if d.web is None and not taken:
        return "worker"
    name = w.name.removeprefix(f"{d.key}-") if w.name != d.key else "worker"
    ptype = slug(name, 30, "worker")
    n = 2
    while ptype in taken or ptype == "web":
        ptype = slug(f"{name}-{n}", 30, "worker")
        n += 1
    return ptype


def _services(d: Draft, plan: AppPlan, ctx: Context) -> None:
    for s in d.services:
        if s.name not in plan.aliases:
            plan.aliases.append(s.name)
        plan.sources.append(s.obj.source)
        ctx.findings.extend(exposure(s, plan.name))
    ports = [p for s in d.services for p in s.ports]
    if d.web is not None and plan.processes:
        web = plan.processes[0]
        for sp in ports:
            target = container_port(d.web, sp.target) or sp.port
            if target != sp.port and all(sp.port != have for have, _ in web.ports):
                web.ports.append((sp.port, target))
    if ports and all(p.protocol != "http" for p in ports):
        s = d.services[0]
        kinds = "/".join(sorted({p.protocol for p in ports}))
        ctx.findings.append(
            finding(
                "info",
                s.obj,
                f"Service {s.name} speaks {kinds}, not HTTP: {plan.name} stays reachable by the "
                f"apps of its group at {s.name}:<port> over the private network; its public "
                "route on the router is HTTP only.",
                "Nothing to do for internal callers; do not give it a public domain.",
            )
        )


def _release(d: Draft, plan: AppPlan, steps: list[tuple[str, Source]], ctx: Context) -> None:
    commands = [c for c, _ in steps if c]
    for job in d.releases:
        plan.sources.append(job.obj.source)
        if job.command is None:
            ctx.findings.append(
                finding(
                    "error",
                    job.obj,
                    f"Job {job.obj.name} runs its image's CMD; a release command needs one.",
                    "Write the command in the Procfile (`release: ...`).",
                )
            )
        else:
            commands.append(job.command)
        if not any(image_repo(job.image) == image_repo(w.image) for w in d.workloads()):
            ctx.findings.append(_other_image(job, plan.name))
    unique = list(dict.fromkeys(commands))
    if unique:
        plan.release_command = " && ".join(unique)
    if len(unique) > 1:
        ctx.findings.append(
            finding(
                "info",
                d.anchor(),
                f"Several migrations make one release command: {plan.release_command}.",
                "Check their order.",
            )
        )


def _other_image(job: JobPlan, app: str) -> Finding:
    return finding(
        "warning",
        job.obj,
        f"{job.obj.kind} {job.obj.name} ran image {job.image}; on Moorage it runs in "
        f"{app}'s image.",
        "Make sure the app's image has what the command needs.",
    )


def _schedules(d: Draft, plan: AppPlan, ctx: Context) -> None:
    for job in d.schedules:
        if job.command is None:
            ctx.findings.append(
                finding(
                    "error",
                    job.obj,
                    f"CronJob {job.obj.name} runs its image's CMD; a scheduled job needs one.",
                    "Add it by hand with the command the image runs.",
                )
            )
            continue
        name = slug(job.obj.name, 30, "job")
        plan.schedules.append(ScheduledJob(name, job.cron, job.command, [job.obj.source]))
        if not plan.processes:
            plan.processes.append(Process("job", job.image or None, job.command, 0))
            ctx.findings.append(
                finding(
                    "info",
                    job.obj,
                    f"{plan.name} only runs scheduled jobs: its image ({job.image}) is carried by "
                    "a `job` process scaled to 0.",
                    "Push that image as the `job` process (container:push job).",
                )
            )
        elif not any(image_repo(job.image) == image_repo(p.image or "") for p in plan.processes):
            ctx.findings.append(_other_image(job, plan.name))
