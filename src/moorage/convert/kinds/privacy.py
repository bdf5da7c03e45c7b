"""Private by default, as in Kubernetes: an app is public (on the router, at
``<app>.<domain>`` and its domains) only when an Ingress, a LoadBalancer or a NodePort
Service exposes it. Any other app is private (Heroku's ``internal_routing``): its dynos are
reached inside the group only, by the Service names (the app's aliases).
"""

from __future__ import annotations

from moorage.convert.kinds import finding
from moorage.convert.kinds.apps import Draft
from moorage.convert.model import AppPlan, Finding

PUBLIC_SERVICES = ("LoadBalancer", "NodePort")


def mark_private(drafts: list[Draft], plans: list[AppPlan], findings: list[Finding]) -> None:
    for draft, plan in zip(drafts, plans, strict=True):
        exposed = plan.domains or any(s.type in PUBLIC_SERVICES for s in draft.services)
        if exposed:
            continue
        plan.private = True  # an app with no Service at all has nothing to serve either
        if not draft.services:
            continue
        names = ", ".join(sorted({s.name for s in draft.services}))
        findings.append(
            finding(
                "info",
                draft.services[0].obj,
                f"{plan.name} is private, as its Service {names} was (ClusterIP): reachable "
                f"inside the group as {names}, not through the router.",
                f"To make it public: `moor apps:update --public -a {plan.name}`, or expose it "
                "with an Ingress before converting.",
            )
        )
