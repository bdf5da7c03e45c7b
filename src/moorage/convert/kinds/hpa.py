"""HorizontalPodAutoscaler -> the app's ``autoscale`` (min, max) for its web process, noted."""

from __future__ import annotations

from dataclasses import dataclass

from moorage.convert.kinds import as_dict, dicts, finding, spec_of, text
from moorage.convert.model import Finding, K8sObject


@dataclass(frozen=True)
class Autoscale:
    """What an HPA scales (``target_kind``/``target``) and between which replica counts."""

    obj: K8sObject
    target_kind: str
    target: str
    minimum: int
    maximum: int
    metrics: tuple[str, ...]


def autoscale(obj: K8sObject) -> Autoscale | None:
    """The HPA's target and bounds (``minReplicas`` defaults to 1); None if it names no target."""
    spec = spec_of(obj)
    ref = as_dict(spec.get("scaleTargetRef"))
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not text(ref.get("name")) or not isinstance(high, int) or isinstance(high, bool):
        return None
    minimum = low if isinstance(low, int) and not isinstance(low, bool) and low >= 0 else 1
    metrics = []
    for m in dicts(spec.get("metrics")):
        res = as_dict(m.get("resource"))
        metrics.append(text(res.get("name")) or text(m.get("type")) or "?")
    if not metrics and spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append("cpu")
    return Autoscale(
        obj,
        text(ref.get("kind")),
        text(ref.get("name")),
        minimum,
        max(high, minimum),
        tuple(metrics),
    )


def autoscale_finding(a: Autoscale, app: str | None, web: bool) -> Finding:
    """Where the bounds went: the app's web autoscale range, or nowhere (with why)."""
    if app is None:
        return finding(
            "warning",
            a.obj,
            f"HPA {a.obj.name} scales {a.target_kind} {a.target}, which is not converted.",
            "Drop it, or convert its target too.",
        )
    if not web:
        return finding(
            "warning",
            a.obj,
            f"HPA {a.obj.name} scales a worker of {app} ({a.target}) between {a.minimum} and "
            f"{a.maximum}; Moorage autoscaling is for web dynos.",
            f"Scale it by hand: `moor ps:scale <type>=N -a {app}`.",
        )
    on = f" on {', '.join(a.metrics)}" if a.metrics else ""
    return finding(
        "info",
        a.obj,
        f"HPA {a.obj.name}{on}: {app} web autoscale range {a.minimum}..{a.maximum} noted; "
        f"the formation starts at the larger of the replicas and {a.minimum}.",
        f"Enable autoscaling on the platform, or scale by hand (`moor ps:scale web=N -a {app}`).",
    )
