"""Service -> which workload is reachable by which name and port, and how it was exposed.

A Service that selects a workload makes it a network service: the workload becomes the
``web`` process of an app and the Service's name one of that app's aliases (the private
name other apps of the group keep using). How it was exposed (LoadBalancer, NodePort,
ExternalName, headless) becomes a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moorage.convert.kinds import as_dict, dicts, finding, spec_of, text
from moorage.convert.model import Finding, K8sObject

_GRPC = re.compile(r"^grpc|-grpc|h2c|http2", re.I)
_OTHER = re.compile(r"^(tcp|udp|redis|postgres|mysql|mongo|amqp|kafka|smtp|dns)", re.I)


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service: the port callers use and the target (number or name)."""

    name: str
    port: int
    target: int | str
    protocol: str  # "http", "grpc" or "tcp", from appProtocol or the port's name


@dataclass
class ServiceInfo:
    obj: K8sObject
    type: str
    selector: dict[str, str]
    ports: list[ServicePort] = field(default_factory=list)
    external_name: str = ""
    headless: bool = False

    @property
    def name(self) -> str:
        return self.obj.name


def service_info(obj: K8sObject) -> ServiceInfo:
    """The parts of a Service the converter uses (ports without a number are skipped)."""
    spec = spec_of(obj)
    ports = []
    for p in dicts(spec.get("ports")):
        port = p.get("port")
        if not isinstance(port, int):
            continue
        target = p.get("targetPort", port)
        ports.append(
            ServicePort(
                text(p.get("name")),
                port,
                target if isinstance(target, int) else text(target),
                _protocol(
                    text(p.get("appProtocol")) or text(p.get("name")), text(p.get("protocol"))
                ),
            )
        )
    return ServiceInfo(
        obj,
        text(spec.get("type")) or "ClusterIP",
        {k: text(v) for k, v in as_dict(spec.get("selector")).items()},
        ports,
        text(spec.get("externalName")),
        text(spec.get("clusterIP")) == "None",
    )


def _protocol(hint: str, transport: str) -> str:
    if transport.upper() == "UDP" or _OTHER.match(hint):
        return "tcp"
    if _GRPC.search(hint):
        return "grpc"
    return "http"


def selects(svc: ServiceInfo, obj: K8sObject, labels: dict[str, str]) -> bool:
    """Whether the Service's selector picks the pods of ``obj`` (pod ``labels``)."""
    if not svc.selector:
        return False
    if svc.obj.namespace and obj.namespace and svc.obj.namespace != obj.namespace:
        return False
    return all(labels.get(k) == v for k, v in svc.selector.items())


def exposure(svc: ServiceInfo, app: str | None) -> list[Finding]:
    """What becomes of how the Service exposed its pods, for the app ``app`` it reaches.

    ClusterIP: nothing to say (its name is an alias). LoadBalancer and NodePort: the app is
    public through the router instead. A Service selecting nothing: it is not converted.
    """
    if svc.type == "ExternalName":
        return [
            finding(
                "warning",
                svc.obj,
                f"ExternalName Service {svc.name} -> {svc.external_name}: no such alias on "
                "Moorage.",
                f"Use {svc.external_name} directly in the config vars that name {svc.name}.",
            )
        ]
    if app is None:
        return [
            finding(
                "warning",
                svc.obj,
                f"Service {svc.name} is not converted: it selects no workload of these "
                "manifests that serves a port.",
                "Add the workload it fronts, or point the callers at where it really runs.",
            )
        ]
    out = []
    if svc.type in ("LoadBalancer", "NodePort"):
        node = [str(p) for p in (as_dict(q).get("nodePort") for q in _raw_ports(svc)) if p]
        extra = f" (nodePort {', '.join(node)})" if node else ""
        out.append(
            finding(
                "info",
                svc.obj,
                f"{svc.type} Service {svc.name}{extra}: the app {app} is public through the "
                f"router at its domains (https://{app}.<platform domain>) instead.",
                "Point DNS (or clients) at the platform's router.",
            )
        )
    if svc.headless:
        out.append(
            finding(
                "info",
                svc.obj,
                f"Headless Service {svc.name}: the name reaches the app's web dynos, not "
                "individual pods.",
                "Nothing to do, unless callers address pods one by one.",
            )
        )
    return out


def _raw_ports(svc: ServiceInfo) -> list[object]:
    ports = spec_of(svc.obj).get("ports")
    return ports if isinstance(ports, list) else []
