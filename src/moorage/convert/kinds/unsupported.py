"""Kinds with no Moorage equivalent -> one finding each: why, and what to do instead.

:func:`unsupported` never returns nothing: a kind it does not know is reported as an unknown
kind or a custom resource, so no object of the input is dropped silently.
"""

from __future__ import annotations

from moorage.convert.kinds import annotations_of, finding
from moorage.convert.model import Finding, K8sObject, Severity

_RBAC: tuple[Severity, str, str] = (
    "warning",
    "dynos get no API token, so code that calls the API fails.",
    "Remove the app's dependency on the Kubernetes API.",
)
_ISTIO_POLICY: tuple[Severity, str, str] = (
    "warning",
    "all apps of a group reach each other, with no mesh in between.",
    "Enforce the access rule in the app (tokens, mTLS), or keep apps in separate groups.",
)
_ISTIO_INFO: tuple[Severity, str, str] = (
    "info",
    "there is no service mesh; apps reach each other directly.",
    "Nothing to do.",
)
_TLS: tuple[Severity, str, str] = (
    "info",
    "the router serves TLS for the apps' domains itself.",
    "Add certificates for custom domains on the platform (certs).",
)
_RULES: dict[str, tuple[Severity, str, str]] = {
    "PersistentVolumeClaim": (
        "warning",
        "dynos have no persistent disk; data written is lost at restart.",
        "Keep the data in an add-on (postgresql, redis) or in object storage.",
    ),
    "PersistentVolume": ("info", "no volumes on Moorage.", "See the claims."),
    "StorageClass": ("info", "no volumes on Moorage.", "Nothing to do."),
    "DaemonSet": (
        "warning",
        "one pod per node (agents, log shippers); Moorage has no nodes to run it on.",
        "Use the platform's log drains and metrics, or run it as a worker app if not node-bound.",
    ),
    "NetworkPolicy": (
        "warning",
        "apps of a group all reach each other over the private network.",
        "Enforce access in the apps, or put apps that must not talk in different groups.",
    ),
    "Role": _RBAC,
    "ClusterRole": _RBAC,
    "RoleBinding": _RBAC,
    "ClusterRoleBinding": _RBAC,
    "ServiceAccount": (
        "info",
        "dynos run with no Kubernetes identity or API token.",
        "Nothing to do, unless the app calls the Kubernetes API.",
    ),
    "PodDisruptionBudget": (
        "info",
        "releases keep old dynos serving until new ones pass their check.",
        "Nothing to do.",
    ),
    "Namespace": ("info", "it names the group of the converted apps.", "Nothing to do."),
    "LimitRange": ("info", "dyno sizes set the limits.", "Nothing to do."),
    "ResourceQuota": ("info", "dyno sizes set the limits.", "Nothing to do."),
    "PriorityClass": ("info", "dynos have no priorities.", "Nothing to do."),
    "VerticalPodAutoscaler": ("info", "pick a dyno size instead.", "Use ps:resize."),
    "IngressClass": ("info", "the platform's router is the ingress.", "Nothing."),
    "Endpoints": (
        "warning",
        "a Service name for addresses outside the cluster is not converted.",
        "Put the external address in the config vars that used the Service name.",
    ),
    "EndpointSlice": (
        "warning",
        "not converted.",
        "Put the external address in the config vars that used the Service name.",
    ),
    "CustomResourceDefinition": (
        "warning",
        "custom resources need their operator, which Moorage lacks.",
        "Find what the operator did for the app and do it another way.",
    ),
    "MutatingWebhookConfiguration": (
        "warning",
        "nothing on Moorage calls it.",
        "Nothing to do, unless the app relied on what it injected.",
    ),
    "ValidatingWebhookConfiguration": (
        "info",
        "nothing on Moorage calls it.",
        "Nothing to do.",
    ),
    "Certificate": _TLS,
    "Issuer": _TLS,
    "ClusterIssuer": _TLS,
    "AuthorizationPolicy": _ISTIO_POLICY,
    "PeerAuthentication": _ISTIO_INFO,
    "RequestAuthentication": _ISTIO_POLICY,
    "Sidecar": _ISTIO_INFO,
    "DestinationRule": _ISTIO_INFO,
    "ServiceEntry": _ISTIO_INFO,
    "EnvoyFilter": (
        "warning",
        "there is no Envoy in front of the apps.",
        "Do in the app what the filter did.",
    ),
    "VirtualService": (
        "warning",
        "mesh routing is not converted (the router routes whole hosts to apps).",
        "Add its hosts as domains of the app it routes to (domains:add).",
    ),
    "Gateway": (
        "warning",
        "the platform's router is the gateway.",
        "Add its hosts as domains of the apps (domains:add).",
    ),
    "HTTPRoute": (
        "warning",
        "route rules are not converted (the router routes whole hosts to apps).",
        "Add its hosts as domains of the app it routes to (domains:add).",
    ),
    "ServiceMonitor": ("info", "not converted.", "Use app metrics."),
    "PodMonitor": ("info", "not converted.", "Use app metrics."),
    "PrometheusRule": ("info", "not converted.", "Alert elsewhere."),
}
_CORE_GROUPS = ("", "apps", "batch", "autoscaling", "policy", "networking.k8s.io")


def unsupported(obj: K8sObject) -> Finding:
    """The finding for an object with no equivalent (always one, even for unknown kinds)."""
    rule = _RULES.get(obj.kind)
    if obj.kind == "ServiceAccount" and annotations_of(obj):
        keys = ", ".join(sorted(annotations_of(obj)))
        return finding(
            "warning",
            obj,
            f"ServiceAccount {obj.name} carries annotations ({keys}), often a cloud identity "
            "(workload identity); dynos get none.",
            "Give the app cloud credentials through config vars instead.",
        )
    if rule is not None:
        severity, why, todo = rule
        return finding(severity, obj, f"{obj.kind} {obj.name}: {why}", todo)
    group = obj.api_version.rpartition("/")[0] if "/" in obj.api_version else ""
    if group and group not in _CORE_GROUPS:
        return finding(
            "warning",
            obj,
            f"{obj.kind} {obj.name} is a custom resource of {group}; it needs that operator, "
            "which Moorage does not run.",
            "Find what the operator did for the app and do it another way, or drop it.",
        )
    return finding(
        "warning",
        obj,
        f"{obj.kind} {obj.name}: unknown kind ({obj.api_version}); not converted.",
        "Check what it did for the app.",
    )
