"""Ingress -> custom domains of the apps behind its backends.

Moorage routes a whole host name to one app: :func:`domains` gives each host to the app
of its root (or shortest) path, and :func:`ingress_findings` reports what a host router
cannot keep (path routing across apps, rewrite annotations) and what it does itself (TLS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from moorage.convert.kinds import annotations_of, as_dict, dicts, finding, spec_of, text
from moorage.convert.model import Finding, K8sObject

_HARMLESS = ("cert-manager.io/", "kubernetes.io/ingress.class", "kubectl.kubernetes.io/")
_SSL = ("ssl-redirect", "force-ssl-redirect", "backend-protocol")


@dataclass(frozen=True)
class Route:
    """One backend of an Ingress: ``host`` (None: any host), path and Service."""

    host: str | None
    path: str
    service: str
    port: int | str | None


def routes(obj: K8sObject) -> list[Route]:
    """Every backend of the Ingress, ``networking.k8s.io/v1`` or the older ``v1beta1`` form."""
    spec = spec_of(obj)
    out = []
    default = as_dict(spec.get("defaultBackend")) or as_dict(spec.get("backend"))
    if default:
        out.append(_route(None, "/", default))
    for rule in dicts(spec.get("rules")):
        host = text(rule.get("host")) or None
        for path in dicts(as_dict(rule.get("http")).get("paths")):
            out.append(_route(host, text(path.get("path")) or "/", as_dict(path.get("backend"))))
    return [r for r in out if r.service]


def _route(host: str | None, path: str, backend: dict[str, object]) -> Route:
    service = as_dict(backend.get("service"))
    if service:
        port = as_dict(service.get("port"))
        number = port.get("number")
        return Route(
            host, path, text(service.get("name")), number if isinstance(number, int) else None
        )
    legacy = backend.get("servicePort")
    port_value = legacy if isinstance(legacy, int | str) else None
    return Route(host, path, text(backend.get("serviceName")), port_value)


def domains(found: list[Route], app_of: Mapping[str, str]) -> dict[str, str]:
    """host -> app: each host goes to the app behind its root path (else its shortest)."""
    out: dict[str, str] = {}
    for route in sorted(found, key=lambda r: (r.path != "/", len(r.path))):
        if route.host and route.host not in out and route.service in app_of:
            out[route.host] = app_of[route.service]
    return out


def ingress_findings(
    obj: K8sObject, found: list[Route], app_of: Mapping[str, str]
) -> list[Finding]:
    """What of the Ingress does not carry over, or is done by the platform instead."""
    out = []
    unknown = sorted({r.service for r in found if r.service not in app_of})
    if unknown:
        out.append(
            finding(
                "warning",
                obj,
                f"Ingress {obj.name} routes to {', '.join(unknown)}, which no converted app "
                "serves.",
                "Add the missing workloads, or route those paths elsewhere.",
            )
        )
    for host in sorted({r.host or "" for r in found}):
        apps = sorted(
            {app_of[r.service] for r in found if (r.host or "") == host and r.service in app_of}
        )
        if len(apps) > 1:
            out.append(
                finding(
                    "warning",
                    obj,
                    f"Host {host or '(any)'} routes paths to several apps ({', '.join(apps)}); "
                    "Moorage routes a whole host to one app.",
                    "Give each app its own host name, or route by path inside one app.",
                )
            )
    if any(r.host is None for r in found):
        out.append(
            finding(
                "info",
                obj,
                "The Ingress's default backend (no host) becomes the app's platform domain.",
                "Nothing to do.",
            )
        )
    out += _annotations(obj)
    return out


def _annotations(obj: K8sObject) -> list[Finding]:
    out = []
    if spec_of(obj).get("tls"):
        out.append(
            finding(
                "info",
                obj,
                "TLS: the router serves the app's domains; the Ingress's certificate Secrets and "
                "cert-manager annotations are not used.",
                "Add certificates for the custom domains on the platform (certs).",
            )
        )
    ignored = sorted(
        k for k in annotations_of(obj) if not k.startswith(_HARMLESS) and not k.endswith(_SSL)
    )
    if ignored:
        out.append(
            finding(
                "warning",
                obj,
                f"Ingress annotations not converted: {', '.join(ignored)}.",
                "Check what each did (rewrites, auth, limits) and do it in the app.",
            )
        )
    return out
