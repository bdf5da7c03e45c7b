"""ConfigMap, Secret and container env: what each container would see as its environment.

:func:`config_store` decodes every ConfigMap and Secret once; :func:`resolve_env` replays a
container's ``envFrom`` and ``env`` in Kubernetes' order (``$(VAR)`` expanded against the
variables defined before), and :func:`config_var` turns the result into a Moorage config var.
References to ConfigMaps/Secrets that are not in the manifests are returned as
:class:`MissingRef` s, not findings: a database add-on may still explain them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import Any

from moorage.convert.kinds import (
    as_dict,
    dicts,
    expand,
    finding,
    pod_labels,
    pod_spec,
    quantity,
    refs,
    text,
)
from moorage.convert.model import ConfigVar, Finding, K8sObject, Source
from moorage.spec.names import CONFIG_KEY_RE

CREDENTIAL_KEY = re.compile(
    r"(PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|_KEY)$", re.I
)
_PLACEHOLDER = re.compile(
    r"^(|changeme|change[-_ ]?me|change[-_ ]?it|replace[-_ ]?me|todo|tbd|fixme|secret|password|"
    r"passw0rd|pass|example|default|test|admin|root|postgres|redis|mysecretpassword|"
    r"12345\d*|x+|\*+|<.*>|\$\{.*\}|\{\{.*\}\}|your[-_ ].*)$",
    re.I,
)


@dataclass(frozen=True)
class EnvVar:
    """One variable of a container's environment, as Kubernetes would compute it.

    ``value`` is None when it cannot be known here (a missing reference, a pod field).
    ``ref`` names the ``(kind, name, key)`` of a ``secretKeyRef``/``configMapKeyRef``.
    """

    key: str
    value: str | None
    secret: bool = False
    ref: tuple[str, str, str] | None = None
    origin: Source | None = None
    literal: bool = False  # carried as written, even a placeholder-looking secret


@dataclass(frozen=True)
class MissingRef:
    """A ConfigMap or Secret (or one key of it) that a container names and nobody defines."""

    kind: str
    name: str
    key: str | None
    var: str | None  # the env var it was to fill (None: envFrom)
    optional: bool


@dataclass
class ConfigStore:
    """Decoded ConfigMaps and Secrets by ``(kind, name)``."""

    objects: dict[tuple[str, str], K8sObject] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


@dataclass
class EnvResult:
    """A container's environment, what could not be resolved, and which objects fed it."""

    vars: list[EnvVar] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    missing: list[MissingRef] = field(default_factory=list)
    used: list[Source] = field(default_factory=list)


def config_store(objects: list[K8sObject]) -> tuple[ConfigStore, list[Finding]]:
    """Every ConfigMap's ``data`` and every Secret's ``data`` (base64) and ``stringData``.

    Values that are not valid base64 or not UTF-8 text are left out, each with a finding.
    """
    store, out = ConfigStore(), []
    for obj in objects:
        data: dict[str, str] = {}
        if obj.kind == "ConfigMap":
            data = {k: text(v) for k, v in as_dict(obj.body.get("data")).items()}
            if as_dict(obj.body.get("binaryData")):
                out.append(_binary(obj, "binaryData"))
        elif obj.kind == "Secret":
            for key, raw in as_dict(obj.body.get("data")).items():
                try:
                    data[key] = base64.b64decode(text(raw), validate=True).decode()
                except (binascii.Error, ValueError):  # ValueError: not ASCII, not UTF-8
                    out.append(_binary(obj, key))
            data.update({k: text(v) for k, v in as_dict(obj.body.get("stringData")).items()})
        else:
            continue
        store.objects[(obj.kind, obj.name)] = obj
        store.data[(obj.kind, obj.name)] = data
    return store, out


def _binary(obj: K8sObject, key: str) -> Finding:
    return finding(
        "warning",
        obj,
        f"{obj.kind} {obj.name}: {key} is binary (or not valid base64); config vars hold text.",
        "Put the file in the image, or base64-encode it into a config var and decode it at start.",
    )


def resolve_env(owner: K8sObject, container: dict[str, Any], store: ConfigStore) -> EnvResult:
    """The container's environment: ``envFrom`` first, then ``env`` in order.

    ``$(VAR)`` in values expands against the variables defined before it; a value that used
    a secret is secret. Pod fields that are static here (namespace, labels, service account)
    and resource fields become values; the others become None with a warning.
    """
    result = EnvResult()
    known: dict[str, EnvVar] = {}
    for source in dicts(container.get("envFrom")):
        for var in _env_from(owner, source, store, result):
            known[var.key] = var
    for item in dicts(container.get("env")):
        entry = _env_entry(owner, container, item, known, store, result)
        if entry is not None:
            known[entry.key] = entry
    result.vars = list(known.values())
    return result


def _env_from(
    owner: K8sObject, source: dict[str, Any], store: ConfigStore, result: EnvResult
) -> list[EnvVar]:
    prefix = text(source.get("prefix"))
    for kind, field_name in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
        ref = as_dict(source.get(field_name))
        if not ref:
            continue
        name, optional = text(ref.get("name")), ref.get("optional") is True
        if (kind, name) not in store.data:
            result.missing.append(MissingRef(kind, name, None, None, optional))
            return []
        obj = store.objects[(kind, name)]
        result.used.append(obj.source)
        bad = [k for k in store.data[(kind, name)] if not CONFIG_KEY_RE.fullmatch(prefix + k)]
        if bad:
            result.findings.append(
                finding(
                    "warning",
                    owner,
                    f"envFrom {kind} {name}: keys {', '.join(sorted(bad))} are not valid "
                    "environment variable names on Moorage and were left out.",
                    "Rename them (letters, digits, underscores), or mount the data as a file "
                    "baked into the image.",
                )
            )
        return [
            EnvVar(prefix + k, v, kind == "Secret", (kind, name, k), obj.source)
            for k, v in store.data[(kind, name)].items()
            if k not in bad
        ]
    return []


def _env_entry(
    owner: K8sObject,
    container: dict[str, Any],
    item: dict[str, Any],
    known: dict[str, EnvVar],
    store: ConfigStore,
    result: EnvResult,
) -> EnvVar | None:
    key = text(item.get("name"))
    if not key:
        return None
    if "value" in item or "valueFrom" not in item:
        raw = text(item.get("value"))
        used = [known[r] for r in refs(raw) if r in known]
        value = expand(raw, {k: v.value for k, v in known.items()})
        return EnvVar(key, value, any(v.secret for v in used) or _credential(key))
    source = as_dict(item.get("valueFrom"))
    for kind, field_name in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = as_dict(source.get(field_name))
        if ref:
            return _key_ref(key, kind, ref, store, result)
    if as_dict(source.get("fieldRef")):
        path = text(as_dict(source.get("fieldRef")).get("fieldPath"))
        return _field_ref(owner, key, path, result)
    if as_dict(source.get("resourceFieldRef")):
        return _resource_ref(owner, container, key, as_dict(source.get("resourceFieldRef")), result)
    result.findings.append(
        finding("warning", owner, f"env {key}: valueFrom of an unknown form.", f"Set {key}.")
    )
    return EnvVar(key, None)


def _key_ref(
    key: str, kind: str, ref: dict[str, Any], store: ConfigStore, result: EnvResult
) -> EnvVar:
    name, item_key = text(ref.get("name")), text(ref.get("key"))
    data = store.data.get((kind, name))
    secret = kind == "Secret" or _credential(key)
    if data is None or item_key not in data:
        optional = ref.get("optional") is True
        result.missing.append(MissingRef(kind, name, item_key, key, optional))
        return EnvVar(key, None, secret, (kind, name, item_key))
    obj = store.objects[(kind, name)]
    result.used.append(obj.source)
    return EnvVar(key, data[item_key], secret, (kind, name, item_key), obj.source)


_FIELD_FIX = {
    "metadata.name": "Moorage sets $DYNO (web.1, worker.2...) and $HOSTNAME; read one of them.",
    "metadata.uid": "Use $DYNO or $HOSTNAME as a per-dyno identifier.",
    "status.podIP": "Bind to 0.0.0.0, or read the address at start (`hostname -i`).",
    "status.podIPs": "Bind to 0.0.0.0, or read the address at start (`hostname -i`).",
    "spec.nodeName": "There are no nodes to name; drop it or set a fixed value.",
    "status.hostIP": "There are no nodes; drop it or set a fixed value.",
}


def _field_ref(owner: K8sObject, key: str, path: str, result: EnvResult) -> EnvVar:
    static: str | None = None
    if path == "metadata.namespace":
        static = owner.namespace or "default"
    elif path == "spec.serviceAccountName":
        static = text(pod_spec(owner).get("serviceAccountName")) or "default"
    elif m := re.fullmatch(r"metadata\.labels\['([^']+)'\]", path):
        static = pod_labels(owner).get(m.group(1), "")
    if static is not None:
        result.findings.append(
            finding(
                "info",
                owner,
                f"env {key}: fieldRef {path} is fixed for this app; set to {static!r}.",
                "Nothing to do.",
            )
        )
        return EnvVar(key, static)
    result.findings.append(
        finding(
            "warning",
            owner,
            f"env {key}: fieldRef {path} (a per-pod value) has no config var equivalent.",
            _FIELD_FIX.get(path, f"Set {key} yourself, or compute it at start in the image."),
        )
    )
    return EnvVar(key, None)


def _resource_ref(
    owner: K8sObject, container: dict[str, Any], key: str, ref: dict[str, Any], result: EnvResult
) -> EnvVar:
    resource = text(ref.get("resource"))  # limits.memory, requests.cpu...
    group, _, name = resource.partition(".")
    amount = quantity(as_dict(as_dict(container.get("resources")).get(group)).get(name))
    divisor = quantity(ref.get("divisor") or "1") or 1.0
    if amount is None:
        result.findings.append(
            finding(
                "warning",
                owner,
                f"env {key}: resourceFieldRef {resource} is not set on the container.",
                f"Set {key} to a value that fits the dyno size.",
            )
        )
        return EnvVar(key, None)
    value = str(math.ceil(amount / divisor))
    result.findings.append(
        finding(
            "info",
            owner,
            f"env {key}: resourceFieldRef {resource} set to {value} from the manifest.",
            f"If you pick another dyno size, change {key} to match it.",
        )
    )
    return EnvVar(key, value)


def _credential(key: str) -> bool:
    return bool(CREDENTIAL_KEY.search(key))


def config_var(var: EnvVar, owner: K8sObject) -> tuple[ConfigVar, Finding | None]:
    """A :class:`ConfigVar` from a resolved env var; placeholder secrets become None.

    A secret (from a Secret, or a credential-looking key) whose value is a placeholder
    (``changeme``, ``<password>``, empty...) is not carried over: its value is None and its
    description says to supply one (app.json ``generator: secret``). ``owner`` is
    the workload whose container had it.
    """
    placeholder = var.value is not None and _PLACEHOLDER.match(var.value.strip())
    if not var.secret or var.value is None or var.literal or not placeholder:
        kind_name = f"{owner.kind} {owner.name}"
        desc = f"from {var.ref[0]} {var.ref[1]}" if var.ref else f"from {kind_name}"
        return ConfigVar(var.key, var.value, var.secret, desc), None
    where = f"{var.ref[0]} {var.ref[1]}" if var.ref else f"{owner.kind} {owner.name}"
    desc = f"Secret: {where} held a placeholder; supply a real value (generated if unset)."
    note = Finding(
        "warning",
        owner.source,
        f"{var.key} ({where}) is a placeholder secret; it is not carried over.",
        f"Set {var.key} at import (app.json marks it generator: secret), or leave it generated.",
    )
    origin = "/".join(var.ref) if var.ref else None
    return ConfigVar(var.key, None, True, desc, origin), note
