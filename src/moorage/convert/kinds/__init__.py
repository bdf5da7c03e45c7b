"""Per-kind converters: one module per group of Kubernetes kinds, pure functions only.

- :mod:`.workloads`: Deployment, StatefulSet, ReplicaSet, ReplicationController, Pod
- :mod:`.services`: Service; :mod:`.ingress`: Ingress
- :mod:`.config`: ConfigMap, Secret and the env of containers
- :mod:`.databases`: Postgres/Redis workloads and charts -> add-ons, env rewrites
- :mod:`.jobs`: Job, CronJob, Helm hooks; :mod:`.hpa`: HorizontalPodAutoscaler
- :mod:`.unsupported`: everything with no Moorage equivalent

This module holds the vocabulary they share: safe access to untrusted manifest bodies, pod
templates, Kubernetes ``$(VAR)`` references, shell command lines and resource quantities.
Nothing here (or in the modules) does I/O or raises on malformed input: odd shapes read as
empty, and the callers report what they could not use.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Container, Mapping
from typing import Any

from moorage.convert.model import Finding, K8sObject, Severity, Source

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Pod"}
)
REF_RE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def finding(severity: Severity, where: K8sObject | Source, why: str, todo: str) -> Finding:
    """A :class:`Finding` about an object (or a source), ``why`` it matters and what to do."""
    source = where.source if isinstance(where, K8sObject) else where
    return Finding(severity, source, why, todo)


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a mapping with string keys, else ``{}`` (manifests are untrusted)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {}


def as_list(value: object) -> list[Any]:
    """``value`` if it is a list, else ``[]``."""
    return value if isinstance(value, list) else []


def dicts(value: object) -> list[dict[str, Any]]:
    """The mappings in ``value`` (a list), skipping anything else."""
    return [as_dict(v) for v in as_list(value) if isinstance(v, dict)]


def text(value: object) -> str:
    """A scalar as text (YAML may give ints or bools where strings were meant); ``""`` else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def spec_of(obj: K8sObject) -> dict[str, Any]:
    """The object's ``spec`` mapping (``{}`` when absent)."""
    return as_dict(obj.body.get("spec"))


def pod_template(obj: K8sObject) -> dict[str, Any]:
    """The pod template (``metadata`` + ``spec``) of a Pod, workload, Job, CronJob, DaemonSet."""
    if obj.kind == "Pod":
        return {"metadata": as_dict(obj.body.get("metadata")), "spec": spec_of(obj)}
    spec = spec_of(obj)
    if obj.kind == "CronJob":
        spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    return as_dict(spec.get("template"))


def pod_spec(obj: K8sObject) -> dict[str, Any]:
    """The pod spec of ``obj`` (see :func:`pod_template`); ``{}`` when it has none."""
    return as_dict(pod_template(obj).get("spec"))


def pod_labels(obj: K8sObject) -> dict[str, str]:
    """The labels its pods carry, which Service selectors match."""
    meta = as_dict(pod_template(obj).get("metadata"))
    return {k: text(v) for k, v in as_dict(meta.get("labels")).items()}


def annotations_of(obj: K8sObject) -> dict[str, str]:
    """The object's own annotations."""
    meta = as_dict(obj.body.get("metadata"))
    return {k: text(v) for k, v in as_dict(meta.get("annotations")).items()}


def image_base(image: str) -> str:
    """The repository's last path element: ``docker.io/bitnami/redis:7@sha256:..`` -> ``redis``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def image_repo(image: str) -> str:
    """The image without tag or digest, to tell whether two containers run the same code."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}" if head else tail.split(":", 1)[0]


def expand(value: str, env: Mapping[str, str | None]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of an env value against the vars defined before it.

    ``$$`` becomes ``$``; ``$(VAR)`` becomes VAR's value when VAR is known (not None);
    any other reference stays as written, as Kubernetes leaves it.
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        known = env.get(m.group(1))
        return known if known is not None else m.group(0)

    return REF_RE.sub(sub, value)


def refs(value: str) -> list[str]:
    """The names ``$(NAME)`` in ``value`` refers to (``$$(X)`` is an escape, not a reference)."""
    return [m.group(1) for m in REF_RE.finditer(value) if m.group(1)]


def shell_word(arg: str, defined: Container[str]) -> str:
    """One argv element as a shell word; ``$(VAR)`` of a defined VAR becomes ``${VAR}``.

    Everything else is quoted so that the shell passes it on unchanged, so an argument
    such as ``$(seq 1 3)`` or ``$HOME`` inside an ``sh -c`` script is not expanded early.
    """
    parts: list[tuple[bool, str]] = []  # (is a reference, text)
    pos = 0
    for m in REF_RE.finditer(arg):
        if m.group(0) == "$$":
            parts.append((False, arg[pos : m.start()] + "$"))
        elif m.group(1) in defined:
            parts += [(False, arg[pos : m.start()]), (True, m.group(1))]
        else:
            parts.append((False, arg[pos : m.end()]))
        pos = m.end()
    parts.append((False, arg[pos:]))
    if not any(is_ref for is_ref, _ in parts):
        plain = "".join(t for _, t in parts)
        return plain if _SAFE_WORD.match(plain) else shlex.quote(plain)
    out = []
    for is_ref, chunk in parts:
        if is_ref:
            out.append("${" + chunk + "}")
        else:
            out.append(re.sub(r'([\\"$`])', r"\\\1", chunk))
    return '"' + "".join(out) + '"'


def shell_command(container: Mapping[str, Any], defined: Container[str]) -> str | None:
    """``command`` + ``args`` of a container as one shell command line, or None for neither.

    ``$(VAR)`` references to variables the container defines become ``${VAR}``; the line is
    meant for a shell (``sh -c``), which expands them at run time.
    """
    argv = [text(a) for a in as_list(container.get("command")) + as_list(container.get("args"))]
    if not argv:
        return None
    return " ".join(shell_word(a, defined) for a in argv)


def quantity(value: object) -> float | None:
    """A Kubernetes resource quantity in base units (``128Mi`` -> 134217728.0, ``250m`` -> 0.25)."""
    raw = text(value).strip()
    m = _QUANTITY.match(raw)
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return float(m.group(1)) * _SUFFIX[m.group(2)]
    except ValueError:
        return None


def slug(raw: str, limit: int = 30, pad: str = "app") -> str:
    """``raw`` as a Moorage name: lowercase letters, digits and dashes, starting with a
    letter, 3 to ``limit`` characters, no trailing dash; long names keep a short hash of the
    original so that two long names that share a prefix stay distinct.
    """
    s = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", raw.lower())).strip("-")
    if not s or not s[0].isalpha():
        s = f"{pad}-{s}".rstrip("-")
    if len(s) < 3:
        s = f"{s}-{pad}"
    if len(s) > limit:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        s = s[: limit - 7].rstrip("-") + "-" + digest
    return s
