"""Job, CronJob and Helm hook objects -> release phase, scheduled jobs or one-off runs.

A Job that migrates (by name or command) or a Helm ``pre-install``/``pre-upgrade`` hook runs
before each release on Kubernetes: it becomes the app's release command. A CronJob becomes
a scheduled job. Other Jobs ran once at apply time: the user runs them with ``moor run``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any, Literal

from moorage.convert.kinds import (
    annotations_of,
    dicts,
    finding,
    pod_spec,
    shell_command,
    spec_of,
    text,
)
from moorage.convert.kinds.workloads import MIGRATE_RE
from moorage.convert.model import Finding, K8sObject

Role = Literal["release", "schedule", "oneoff", "test"]
RELEASE_HOOKS = frozenset({"pre-install", "pre-upgrade"})


@dataclass
class JobPlan:
    """What a Job or CronJob becomes: its role, image, command and (CronJob) schedule."""

    obj: K8sObject
    role: Role
    container: dict[str, Any]
    command: str | None
    cron: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def image(self) -> str:
        return text(self.container.get("image"))


def hooks(obj: K8sObject) -> set[str]:
    """The Helm hooks (``helm.sh/hook``) the object is declared for."""
    raw = annotations_of(obj).get("helm.sh/hook", "")
    return {h.strip() for h in raw.split(",") if h.strip()}


def is_test_hook(obj: K8sObject) -> bool:
    """A ``helm test`` Pod or Job: it checks a release and is not part of the app."""
    return bool(hooks(obj) & {"test", "test-success", "test-failure"})


def test_hook(obj: K8sObject) -> Finding:
    """The finding for a ``helm test`` hook object: dropped, safely."""
    return finding(
        "info",
        obj,
        f"Helm test hook {obj.kind} {obj.name} is not part of the app; not converted.",
        "Nothing to do (run such checks against the app's URL after release).",
    )


def job_plan(obj: K8sObject, defined: Container[str]) -> JobPlan | None:
    """The :class:`JobPlan` of a Job or CronJob; None when its pod has no container.

    ``defined`` holds the env var names its container defines, for ``$(VAR)`` references.
    """
    containers = dicts(pod_spec(obj).get("containers"))
    if not containers:
        return None
    main = containers[0]
    command = shell_command(main, defined)
    if obj.kind == "CronJob":
        return _cron(obj, main, command)
    if is_test_hook(obj):
        return JobPlan(obj, "test", main, command, findings=[test_hook(obj)])
    declared = hooks(obj)
    if declared & RELEASE_HOOKS or MIGRATE_RE.search(obj.name) or MIGRATE_RE.search(command or ""):
        why = "a Helm pre-install/pre-upgrade hook" if declared & RELEASE_HOOKS else "a migration"
        note = finding(
            "info",
            obj,
            f"Job {obj.name} is {why}: it becomes the release command "
            f"`{command or '(the image CMD)'}`, run before each release goes live.",
            "Check that it is safe to run at every release.",
        )
        return JobPlan(obj, "release", main, command, findings=[note])
    when = f"a Helm {', '.join(sorted(declared))} hook" if declared else "run once at apply time"
    note = finding(
        "warning",
        obj,
        f"Job {obj.name} ({when}) is not run automatically on Moorage.",
        f"Run it when needed: `moor run {command or '<command>'} -a <app>`.",
    )
    return JobPlan(obj, "oneoff", main, command, findings=[note])


def _cron(obj: K8sObject, main: dict[str, Any], command: str | None) -> JobPlan:
    spec = spec_of(obj)
    cron = text(spec.get("schedule"))
    out = []
    dropped = [
        f"{k}={text(spec.get(k))}"
        for k in ("timeZone", "concurrencyPolicy", "startingDeadlineSeconds")
        if spec.get(k) not in (None, "", "Allow")
    ]
    if spec.get("suspend") is True:
        out.append(
            finding(
                "warning",
                obj,
                f"CronJob {obj.name} is suspended; its schedule is converted anyway.",
                "Remove the scheduled job if it must not run.",
            )
        )
    if dropped:
        out.append(
            finding(
                "info",
                obj,
                f"CronJob {obj.name}: {', '.join(dropped)} not converted (schedules run in UTC, "
                "each run is a one-off dyno).",
                "Adjust the schedule to UTC if needed.",
            )
        )
    return JobPlan(obj, "schedule", main, command, cron, out)
