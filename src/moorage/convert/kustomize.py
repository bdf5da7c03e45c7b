"""Kustomize folders, rendered by ``kubectl kustomize`` with the file each object came from.

The folder is rendered through a wrapper kustomization (in a temporary folder) that names it
as its one resource and asks for ``buildMetadata: [originAnnotations]``: kustomize then
writes each object's resource file into a ``config.kubernetes.io/origin`` annotation. The
annotation is taken off again, and the object's source becomes that file and the line of
its document there, so findings point at what the user wrote, not at the kustomization.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from moorage.convert.model import K8sObject
from moorage.errors import InvalidParams

ORIGIN = "config.kubernetes.io/origin"
TIMEOUT = 120.0


def render(folder: Path, label: str) -> tuple[str, Path]:
    """``kubectl kustomize``'s output for ``folder``, and the wrapper folder its origin
    paths are relative to (already removed: the paths are only joined, never opened)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise InvalidParams(
            f"{label} is a kustomize folder, and rendering it needs kubectl, which is not on "
            f"PATH. Install kubectl, or render it yourself (kustomize build {label} > out.yaml) "
            "and pass the rendered YAML."
        )
    with tempfile.TemporaryDirectory(prefix="moorage-kustomize-") as tmp:
        wrapper = Path(tmp)
        resource = os.path.relpath(folder, wrapper)
        (wrapper / "kustomization.yaml").write_text(
            yaml.safe_dump({"resources": [resource], "buildMetadata": ["originAnnotations"]})
        )
        try:
            proc = subprocess.run(
                [kubectl, "kustomize", str(wrapper)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InvalidParams(f"{label}: kubectl kustomize could not run: {exc}.") from exc
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.strip().splitlines()[-3:])[:800]
        detail = detail.replace(str(wrapper), "").replace(resource, label)
        raise InvalidParams(
            f"{label}: kubectl kustomize failed: {detail or 'no message'}. Fix the "
            "kustomization, or render it yourself and pass the rendered YAML."
        )
    return proc.stdout, wrapper


def relocate(obj: K8sObject, wrapper: Path, base: Path) -> K8sObject:
    """``obj`` without its origin annotation, its source the resource file it came from
    (shown relative to ``base``) and its document's line there."""
    meta = obj.body.get("metadata")
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(notes, dict) or not isinstance(notes.get(ORIGIN), str):
        return obj
    assert isinstance(meta, dict)
    try:
        origin = yaml.safe_load(notes.pop(ORIGIN))
    except yaml.YAMLError:
        origin = None
    if not notes:
        meta.pop("annotations")
    path = origin.get("path") if isinstance(origin, dict) else None
    if not isinstance(path, str) or "://" in path:
        return obj  # a remote resource: the kustomization stays the source
    file = Path(os.path.normpath(wrapper / path))
    source = dataclasses.replace(
        obj.source, file=os.path.relpath(file, base), line=_line(file, obj.kind, obj.name)
    )
    return dataclasses.replace(obj, source=source)


def _line(file: Path, kind: str, name: str) -> int:
    """The line of the document of ``kind`` whose name is in ``name`` (kustomize adds
    prefixes and suffixes); 1 when it cannot be told."""
    best, line = 0, 1
    with contextlib.suppress(OSError, yaml.YAMLError, UnicodeDecodeError):
        for node in yaml.compose_all(file.read_text(), Loader=yaml.SafeLoader):
            if not isinstance(node, yaml.MappingNode):
                continue
            doc = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            meta = doc.get("metadata")
            names = (
                [v.value for k, v in meta.value if getattr(k, "value", "") == "name"]
                if isinstance(meta, yaml.MappingNode)
                else []
            )
            found_kind = getattr(doc.get("kind"), "value", "")
            own = str(names[0]) if names else ""
            if found_kind == kind and own and own in name and len(own) > best:
                best, line = len(own), node.start_mark.line + 1
    return line
