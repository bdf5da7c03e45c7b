"""imagePullSecrets: the registry credentials a workload's images are pulled with.

A ``kubernetes.io/dockerconfigjson`` (or legacy ``dockercfg``) Secret named by a pod's
``imagePullSecrets`` becomes the app's registry logins, which ``k8s:import`` stores sealed on
the platform (``moor registry:login``). The passwords never reach a written file, the plan
or ``--json``: :mod:`moorage.convert.output` treats them as secrets.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from moorage.convert.kinds import as_dict, as_list, finding, pod_spec, text
from moorage.convert.kinds.apps import Draft
from moorage.convert.kinds.config import ConfigStore
from moorage.convert.model import AppPlan, Finding, RegistryLogin

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


def pull_logins(
    drafts: list[Draft], plans: list[AppPlan], store: ConfigStore, findings: list[Finding]
) -> None:
    """Give each app the logins of the Secrets its workloads pull with."""
    for draft, plan in zip(drafts, plans, strict=True):
        names = {
            text(as_dict(ref).get("name"))
            for w in draft.workloads()
            for ref in as_list(pod_spec(w.obj).get("imagePullSecrets"))
        }
        for name in sorted(n for n in names if n):
            obj = store.objects.get(("Secret", name))
            if obj is None:
                continue  # a Secret made outside these manifests: nothing to read
            data = store.data.get(("Secret", name), {})
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg") or ""
            logins = _logins(raw, obj.source)
            if obj.source not in plan.sources:
                plan.sources.append(obj.source)
            for login in logins:
                if all(other.host != login.host for other in plan.registry_logins):
                    plan.registry_logins.append(login)
            hosts = ", ".join(f"{x.host} (user {x.username})" for x in logins) or "none readable"
            how = f"`moor registry:login HOST -u USER --password-stdin -a {plan.name}`"
            findings.append(
                finding(
                    "info" if logins else "warning",
                    obj,
                    f"Secret {name}: registry credentials for {hosts}; k8s:import stores them "
                    f"sealed for {plan.name} (they are never written to files).",
                    "Nothing to do." if logins else f"Add them with {how}.",
                )
            )


def _logins(raw: str, source: Any) -> list[RegistryLogin]:
    """``{"auths": {host: {"username", "password"} or {"auth": b64(user:pass)}}}``."""
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        return []
    auths = as_dict(doc.get("auths")) if "auths" in as_dict(doc) else as_dict(doc)
    out = []
    for host, entry in auths.items():
        entry = as_dict(entry)
        user, password = text(entry.get("username")), text(entry.get("password"))
        if not (user and password) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(text(entry["auth"])).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                continue
        name = _host(text(host))
        if user and password and name:
            out.append(RegistryLogin(name, user, password, source))
    return out


def _host(key: str) -> str:
    """A docker config key (``https://ghcr.io``, ``https://index.docker.io/v1/``) as a host."""
    if key in DOCKER_HUB_KEYS:
        return "docker.io"
    host = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB_KEYS else host
