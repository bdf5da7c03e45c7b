"""Persistent volumes from pods: a PersistentVolumeClaim (or a StatefulSet's
``volumeClaimTemplates``) mounted by the main container becomes a volume of the app; so
does an ``emptyDir`` under a data store's files (a database kept as a process must keep its
rows). A process type with a volume runs one dyno."""

from __future__ import annotations

import re
from typing import Any

from moorage.convert.kinds import as_dict, dicts, finding, image_base, pod_spec, spec_of, text
from moorage.convert.kinds.databases import _STATEFUL, service_of
from moorage.convert.kinds.workloads import Workload
from moorage.convert.model import Finding, VolumeNeed

_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(Mi|Gi|Ti|M|G|T)")


def stateful(w: Workload) -> bool:
    """Whether the workload runs a data store (its emptyDir holds the data)."""
    return service_of(w) is not None or image_base(w.image) in _STATEFUL


def persistent(w: Workload, vol: dict[str, Any]) -> bool:
    """Whether a pod volume becomes a platform volume."""
    return "persistentVolumeClaim" in vol or ("emptyDir" in vol and stateful(w))


def _size(claim: dict[str, Any]) -> str:
    storage = text(
        as_dict(as_dict(as_dict(claim.get("spec")).get("resources")).get("requests")).get("storage")
    )
    m = _QUANTITY.fullmatch(storage.strip())
    return f"{m[1]}{m[2][0]}B" if m else "1GB"


def _name(raw: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "data"
    base = base if base[0].isalpha() else f"v-{base}"
    name, n = base[:30], 2
    while name in taken:
        name, n = f"{base[:27]}-{n}", n + 1
    return name


def volume_needs(
    w: Workload, ptype: str, taken: set[str]
) -> tuple[list[VolumeNeed], list[Finding]]:
    """The volumes of ``w``'s main container as process ``ptype``; ``taken``: names already
    used by the app (updated)."""
    mounts = {
        text(m.get("name")): text(m.get("mountPath")) for m in dicts(w.main.get("volumeMounts"))
    }
    wanted: list[tuple[str, str, str]] = []  # (name it had, mount path, size)
    for vol in dicts(pod_spec(w.obj).get("volumes")):
        name = text(vol.get("name"))
        if name in mounts and persistent(w, vol):
            claim = text(as_dict(vol.get("persistentVolumeClaim")).get("claimName"))
            wanted.append((claim or name, mounts[name], "1GB"))
    for template in dicts(spec_of(w.obj).get("volumeClaimTemplates")):
        name = text(as_dict(template.get("metadata")).get("name"))
        if name in mounts:
            wanted.append((name, mounts[name], _size(template)))
    needs, notes = [], []
    for raw, path, size in wanted:
        name = _name(raw, taken)
        taken.add(name)
        needs.append(VolumeNeed(name, path, ptype, size, w.obj.source))
        notes.append(
            finding(
                "info",
                w.obj,
                f"{w.obj.kind} {w.name}: {raw} at {path} becomes the persistent volume {name} "
                f"({size}) of its process {ptype}, which runs one dyno; its files survive "
                "restarts and releases.",
                "Nothing to do. `moor volumes:export` backs it up.",
            )
        )
    return needs, notes
