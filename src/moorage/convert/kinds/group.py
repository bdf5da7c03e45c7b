"""Passes across the apps of a group: Ingress hosts, autoscalers, Service ports.

They run after every :class:`AppPlan` is built, because each needs to know which app
serves which Service name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from moorage.convert.kinds import finding
from moorage.convert.kinds.apps import Draft
from moorage.convert.kinds.hpa import Autoscale, autoscale_finding
from moorage.convert.kinds.ingress import Route, domains, ingress_findings
from moorage.convert.kinds.workloads import container_port
from moorage.convert.model import AppPlan, Finding, K8sObject
from moorage.spec.dyno import MAX_QUANTITY


def place_ingresses(
    found: list[tuple[K8sObject, list[Route]]],
    plans: Mapping[str, AppPlan],
    app_of: Mapping[str, str],
    findings: list[Finding],
) -> None:
    """Ingress hosts become domains of the app behind their root path; notes for the rest."""
    for obj, routes in found:
        if not routes:
            findings.append(
                finding("warning", obj, f"Ingress {obj.name} routes nowhere.", "Drop it.")
            )
            continue
        findings.extend(ingress_findings(obj, routes, app_of))
        for host, app in domains(routes, app_of).items():
            if host not in plans[app].domains:
                plans[app].domains.append(host)
        for app in {app_of[r.service] for r in routes if r.service in app_of}:
            plans[app].sources.append(obj.source)


def place_autoscalers(
    hpas: list[Autoscale], drafts: list[Draft], plans: list[AppPlan], findings: list[Finding]
) -> None:
    """An HPA on a web workload sets the app's autoscale range (and at least min dynos)."""
    for a in hpas:
        hit: tuple[Draft, AppPlan] | None = None
        for d, p in zip(drafts, plans, strict=True):
            if any(w.name == a.target for w in d.workloads()):
                hit = (d, p)
        web = hit is not None and hit[0].web is not None and hit[0].web.name == a.target
        findings.append(autoscale_finding(a, hit[1].name if hit else None, web))
        if hit is not None and web:
            plan = hit[1]
            plan.autoscale = (a.minimum, a.maximum)
            plan.sources.append(a.obj.source)
            plan.processes[0].quantity = max(plan.processes[0].quantity, a.minimum)
            if plan.processes[0].quantity > MAX_QUANTITY:
                plan.processes[0].quantity = MAX_QUANTITY
                findings.append(
                    finding(
                        "warning",
                        a.obj,
                        f"HPA {a.obj.name} asks for at least {a.minimum} dynos, more than the "
                        f"{MAX_QUANTITY} a process type can have; web starts at {MAX_QUANTITY}.",
                        "Use larger dynos (ps:resize) instead of more of them.",
                    )
                )


def port_rewrites(drafts: list[Draft], plans: list[AppPlan], findings: list[Finding]) -> None:
    """Config values naming ``<service>:<port>`` (or its cluster FQDN) get the app's container
    port: over the private network a dyno listens on its own port, not the Service's."""
    ports: dict[str, dict[int, int]] = {}
    for d in drafts:
        for s in d.services if d.web else []:
            for p in s.ports:
                target = container_port(d.web, p.target) if d.web else None
                ports.setdefault(s.name, {})[p.port] = target or p.port
    if not ports:
        return
    pattern = re.compile(
        r"(?P<scheme>[a-z][a-z0-9+.-]*://)?(?<![\w.-])(?P<host>"
        + "|".join(re.escape(n) for n in sorted(ports, key=len, reverse=True))
        + r")(?P<fqdn>\.[a-z0-9-]+\.svc(?:\.cluster\.local)?)?(?::(?P<port>\d+))?(?![\w.-])"
    )
    for d, plan in zip(drafts, plans, strict=True):
        changed = []
        for cv in plan.config:
            if cv.value is None:
                continue
            new = pattern.sub(lambda m: _retarget(m, ports), cv.value)
            if new != cv.value:
                shown = "(secret)" if cv.secret else f"{cv.value} -> {new}"
                changed.append(f"{cv.key}: {shown}")
                cv.value = new
        if changed:
            findings.append(
                finding(
                    "info",
                    d.anchor(),
                    "Service addresses rewritten to the apps' container ports (dynos listen on "
                    f"their own port, not the Service's): {'; '.join(changed)}.",
                    "Nothing to do, if the platform's private network resolves the aliases.",
                )
            )


def _retarget(m: re.Match[str], ports: Mapping[str, Mapping[int, int]]) -> str:
    host, scheme, port = m.group("host"), m.group("scheme") or "", m.group("port")
    if port is not None and not (port.isascii() and len(port) <= 5):
        return m.group(0)  # not a port number: left as written
    if port is not None:
        return f"{scheme}{host}:{ports[host].get(int(port), int(port))}"
    if scheme.startswith("http") and ports[host].get(80, 80) != 80:
        return f"{scheme}{host}:{ports[host][80]}"
    return f"{scheme}{host}"
