"""Pod and container settings with no Moorage equivalent -> findings.

:func:`pod_findings` reports, for one workload, scheduling constraints, host namespaces,
security contexts, volumes (file mounts of ConfigMaps/Secrets are reported on those objects),
sidecars and container extras: one finding per topic, each with what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moorage.convert.kinds import as_dict, as_list, dicts, finding, pod_spec, spec_of, text
from moorage.convert.kinds.volumes import persistent
from moorage.convert.kinds.workloads import Workload, is_mesh
from moorage.convert.model import Finding, Severity, Source

_SCHEDULING = (
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "priorityClassName",
    "schedulerName",
    "runtimeClassName",
    "nodeName",
    "dnsPolicy",
    "dnsConfig",
    "serviceAccountName",
    "automountServiceAccountToken",
    "imagePullSecrets",
)


def pod_findings(w: Workload, known: Mapping[tuple[str, str], Source]) -> list[Finding]:
    """Every pod or container setting with no Moorage equivalent, one finding per topic.

    ``known`` maps ``(kind, name)`` of the ConfigMaps/Secrets in the manifests to their
    source: a file mount of one is reported on that object, so it counts as covered.
    """
    spec = pod_spec(w.obj)
    out = _scheduling(w, spec) + _security(w, spec) + _volumes(w, spec, known)
    out += [_sidecar(w, c) for c in w.sidecars]
    if w.obj.kind == "StatefulSet":
        out.append(
            finding(
                "warning",
                w.obj,
                "StatefulSet: stable names, ordered start and per-pod volumes have no "
                "equivalent; its dynos are interchangeable.",
                "Keep state in an add-on; make the processes not depend on their ordinal.",
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace > 30:
        out.append(
            finding("info", w.obj, f"Grace period {grace}s: dynos get 30 s.", "Stop faster.")
        )
    if w.obj.kind == "Pod" and text(spec.get("restartPolicy")) in ("Never", "OnFailure"):
        out.append(
            finding(
                "warning",
                w.obj,
                "A Pod that is not restarted is a one-off task; it became a process anyway.",
                "Run it with `moor run` instead, and scale the process to 0.",
            )
        )
    for c in [w.main, *w.sidecars]:
        out += _container_extras(w, c)
    return out


def _scheduling(w: Workload, spec: dict[str, Any]) -> list[Finding]:
    dropped = [k for k in _SCHEDULING if spec.get(k) not in (None, "", [], {}, "default")]
    out = []
    if dropped:
        out.append(
            finding(
                "info",
                w.obj,
                f"Ignored pod settings: {', '.join(dropped)} (the platform places and runs "
                "dynos itself; they have no Kubernetes identity).",
                "Nothing to do.",
            )
        )
    host = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    if host:
        out.append(
            finding(
                "warning",
                w.obj,
                f"{', '.join(host)}: dynos never share the host's namespaces.",
                "Make the app work in its own network and process namespace.",
            )
        )
    if spec.get("hostAliases"):
        out.append(
            finding(
                "warning",
                w.obj,
                "hostAliases (extra /etc/hosts entries) are not converted.",
                "Use real DNS names, or put the addresses in config vars.",
            )
        )
    return out


def _security(w: Workload, spec: dict[str, Any]) -> list[Finding]:
    contexts = [as_dict(spec.get("securityContext"))]
    contexts += [as_dict(c.get("securityContext")) for c in [w.main, *w.sidecars, *w.inits]]
    if any(c.get("privileged") is True for c in contexts):
        return [
            finding(
                "error",
                w.obj,
                "A container runs privileged; dynos never do.",
                "Remove the need for privileges (device access, kernel settings) from the app.",
            )
        ]
    added = {
        text(cap) for c in contexts for cap in as_list(as_dict(c.get("capabilities")).get("add"))
    }
    if added:
        return [
            finding(
                "warning",
                w.obj,
                f"Added capabilities {', '.join(sorted(added))}: dynos get none.",
                "Listen on a port above 1024 ($PORT) and drop the need for the capability.",
            )
        ]
    if any(contexts):
        return [
            finding(
                "info",
                w.obj,
                "securityContext (user, group, read-only root...) is not applied: dynos run "
                "unprivileged as the image's USER.",
                "Set USER in the Dockerfile if the app must not run as root.",
            )
        ]
    return []


def _volumes(
    w: Workload, spec: dict[str, Any], known: Mapping[tuple[str, str], Source]
) -> list[Finding]:
    mounts: dict[str, list[str]] = {}
    for c in [w.main, *w.sidecars, *w.inits]:
        for m in dicts(c.get("volumeMounts")):
            mounts.setdefault(text(m.get("name")), []).append(text(m.get("mountPath")))
    main = {text(m.get("name")) for m in dicts(w.main.get("volumeMounts"))}
    out = []
    for vol in dicts(spec.get("volumes")):
        name = text(vol.get("name"))
        if name in main and persistent(w, vol):
            continue  # a volume of the app (convert/kinds/volumes.py)
        where = ", ".join(sorted(set(mounts.get(name, [])))) or "(not mounted)"
        out.append(_volume(w, vol, name, where, known))
    for claim in dicts(spec_of(w.obj).get("volumeClaimTemplates")):
        meta = as_dict(claim.get("metadata"))
        if text(meta.get("name")) in main:
            continue
        where = ", ".join(mounts.get(text(meta.get("name")), [])) or "(not mounted)"
        out.append(_pvc(w, text(meta.get("name")), where))
    return out


def _pvc(w: Workload, claim: str, where: str) -> Finding:
    return finding(
        "warning",
        w.obj,
        f"Volume claim {claim} at {where}: dynos have no persistent disk; what is written "
        "there is lost at every restart.",
        "Keep the data in an add-on (postgresql, redis) or in object storage.",
    )


def _volume(
    w: Workload,
    vol: dict[str, Any],
    name: str,
    where: str,
    known: Mapping[tuple[str, str], Source],
) -> Finding:
    if "emptyDir" in vol:
        return finding(
            "info",
            w.obj,
            f"emptyDir volume {name} at {where}: the dyno's own filesystem is scratch space too.",
            "Nothing to do, unless the root filesystem is read-only in the image.",
        )
    if "persistentVolumeClaim" in vol:
        return _pvc(w, text(as_dict(vol["persistentVolumeClaim"]).get("claimName")), where)
    if "hostPath" in vol:
        path = text(as_dict(vol["hostPath"]).get("path"))
        sev: Severity = "error" if "docker.sock" in path or "containerd" in path else "warning"
        return finding(
            sev,
            w.obj,
            f"hostPath volume {name} ({path}) at {where}: dynos see nothing of the host.",
            "Remove the dependency on host files (the Docker socket is never given to dynos).",
        )
    for kind, key, ref in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
        if key in vol:
            return _file_mount(w, kind, text(as_dict(vol[key]).get(ref)), where, known)
    what = next(iter(k for k in vol if k != "name"), "unknown")
    return finding(
        "warning",
        w.obj,
        f"{what} volume {name} at {where} has no equivalent on Moorage.",
        "Put what the app reads there in the image or in config vars.",
    )


def _file_mount(
    w: Workload, kind: str, name: str, where: str, known: Mapping[tuple[str, str], Source]
) -> Finding:
    source = known.get((kind, name))
    missing = "" if source else " (it is not in these manifests)"
    fix = (
        "Put the content in a config var and write the file at start (a .profile.d script); "
        "never bake secrets into the image."
        if kind == "Secret"
        else "COPY the files into the image, or put them in a config var and write them at start."
    )
    return finding(
        "warning",
        source or w.obj.source,
        f"{kind} {name}{missing} is mounted as files at {where} by {w.obj.kind} {w.name}; "
        "config vars are environment variables, not files.",
        fix,
    )


def _sidecar(w: Workload, c: dict[str, Any]) -> Finding:
    name, image = text(c.get("name")), text(c.get("image"))
    if is_mesh(c):
        return finding("info", w.obj, f"Mesh proxy {name} dropped.", "Nothing to do.")
    return finding(
        "warning",
        w.obj,
        f"Sidecar container {name} ({image}) not converted: a dyno runs one container, and "
        "separate dynos do not share localhost.",
        "Run it as its own process type or app (reached over the network), or drop it.",
    )


def _container_extras(w: Workload, c: dict[str, Any]) -> list[Finding]:
    name = text(c.get("name"))
    extras = [k for k in ("lifecycle", "workingDir", "stdin", "tty") if c.get(k)]
    ports = dicts(c.get("ports"))
    if any("hostPort" in p for p in ports):
        extras.append("hostPort")
    if c is w.main and len(ports) > 1:
        extras.append(f"{len(ports)} ports (a dyno serves one, $PORT)")
    if not extras:
        return []
    return [
        finding(
            "warning" if "workingDir" in extras or "lifecycle" in extras else "info",
            w.obj,
            f"Container {name}: {', '.join(extras)} not converted.",
            "Set the working directory in the Dockerfile (WORKDIR); run start/stop hooks in "
            "the start command or on SIGTERM.",
        )
    ]
