"""Read Kubernetes manifests: YAML files and folders, Helm charts, kustomize folders.

:func:`load` turns paths into :class:`K8sObject` values, each with the file and 1-based line
its document starts on, plus :class:`Finding` values for documents that are not objects and
for Helm chart dependencies that were not rendered. Unusable input (missing or unreadable
files, invalid YAML, Helm template errors, a failing ``kubectl kustomize``) raises
:class:`InvalidParams` whose message names the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from moorage.convert import kustomize
from moorage.convert.links import link_finding, outside_links, without_links
from moorage.convert.model import Finding, K8sObject, Source
from moorage.errors import InvalidParams

_YAML_SUFFIXES = (".yaml", ".yml")
_CHART_FILE = "Chart.yaml"
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_HELM_WHERE = re.compile(r"([^\s():\"']+):(\d+)(?::\d+)?")
_MAX_VALUES = 1_000_000  # per document, counting every YAML alias expanded
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class _Unit:
    """One thing to read: a YAML file, a Helm chart (folder or .tgz), a kustomize folder."""

    kind: str  # "yaml" | "chart" | "kustomize"
    path: Path
    base: Path  # file names in Sources are relative to this folder


def load(
    paths: list[Path],
    *,
    values: list[Path] | None = None,
    set_values: list[str] | None = None,
    release: str = "release",
) -> tuple[list[K8sObject], list[Finding]]:
    """Read every object under ``paths``, in a stable order (paths as given, files sorted).

    Folders are searched recursively for ``.yaml``/``.yml`` files; a folder holding
    ``Chart.yaml`` is rendered as a Helm chart (offline, with ``values`` files, ``--set``
    expressions ``set_values`` and the release name ``release``), one holding a kustomization
    through ``kubectl kustomize``. Empty documents are skipped; documents that are not
    Kubernetes objects become error findings; each chart dependency not vendored under
    ``charts/`` becomes an info finding whose source is
    ``Source(file=<Chart.yaml>, line, kind="ChartDependency", name=<chart name>)``.
    Never raises anything but :class:`InvalidParams` for bad input.
    """
    if not paths:
        raise InvalidParams("No path given: name YAML files, folders, Helm charts or kustomize.")
    roots = [Path(os.path.abspath(path)) for path in paths]
    links = [(link, root) for root in roots if root.is_dir() for link in outside_links(root)]
    units = [u for root in roots for u in _discover(root) if u.path not in dict(links)]
    charts = [u for u in units if u.kind == "chart"]
    if (values or set_values) and not charts:
        raise InvalidParams(
            "--values and --set apply to Helm charts, and none of the paths is a chart "
            "(a folder with Chart.yaml). Remove them or add the chart's folder."
        )
    user_values = _user_values(values or [], set_values or [])
    if charts:
        _check_release(release)
    objects: list[K8sObject] = []
    findings: list[Finding] = [link_finding(link, root.parent) for link, root in links]
    for unit in units:
        label = _rel(unit.path, unit.base)
        if unit.kind == "yaml":
            _read_documents(_read_text(unit.path, label), label, objects, findings)
        elif unit.kind == "kustomize":
            text, wrapper = kustomize.render(unit.path, label)
            first = len(objects)
            _read_documents(text, f"{label}/{_kustomization_name(unit.path)}", objects, findings)
            objects[first:] = [kustomize.relocate(o, wrapper, unit.base) for o in objects[first:]]
        else:
            _read_chart(unit, label, (user_values, release), objects, findings)
    return objects, findings


# --- finding what to read ---------------------------------------------------------------


def _discover(path: Path) -> list[_Unit]:
    base = path.parent
    if not path.exists():
        raise InvalidParams(f"{path}: no such file or folder.")
    if path.is_file():
        if path.name == _CHART_FILE:
            return [_Unit("chart", path.parent, base.parent)]
        if path.name in _KUSTOMIZATIONS:
            return [_Unit("kustomize", path.parent, base.parent)]
        return [_Unit("chart" if path.name.endswith(".tgz") else "yaml", path, base)]
    own = _folder_kind(path)
    if own is not None:
        return [_Unit(own, path, base)]
    units = sorted(_walk(path, base), key=lambda u: u.path.parts)
    if not units:
        raise InvalidParams(
            f"{path}: no .yaml/.yml files, Helm chart or kustomization in this folder."
        )
    kustomized = [_rel(u.path, base) for u in units if u.kind == "kustomize"]
    if len(kustomized) > 1:
        raise InvalidParams(
            f"{path}: holds several kustomizations ({', '.join(kustomized)}); converting them "
            "all would duplicate every object. Pass the one to convert (an overlay includes "
            "its base)."
        )
    return units


def _folder_kind(folder: Path) -> str | None:
    if (folder / _CHART_FILE).is_file():
        return "chart"
    if any((folder / name).is_file() for name in _KUSTOMIZATIONS):
        return "kustomize"
    return None


def _walk(root: Path, base: Path) -> Iterator[_Unit]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            kind = _folder_kind(Path(folder, name))
            if kind is not None:
                dirs.remove(name)
                yield _Unit(kind, Path(folder, name), base)
        for name in sorted(files):
            if name.endswith(_YAML_SUFFIXES) and not name.startswith("."):
                yield _Unit("yaml", Path(folder, name), base)


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def _read_text(path: Path, label: str) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidParams(
            f"{label}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML."
        ) from exc
    except OSError as exc:
        raise InvalidParams(f"{label}: cannot be read: {exc.strerror or exc}.") from exc


# --- YAML documents ---------------------------------------------------------------------


def _read_documents(
    text: str, label: str, objects: list[K8sObject], findings: list[Finding]
) -> None:
    """Add the objects of every document of ``text`` (from file ``label``)."""
    for number, (node, data) in enumerate(_documents(text, label), start=1):
        line = node.start_mark.line + 1
        if data is None:
            continue
        _check_expansion(data, f"{label}:{line}")
        if not isinstance(data, dict):
            findings.append(_not_an_object(label, line, f"Document {number}", type(data).__name__))
            continue
        items = data.get("items")
        kind = data.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
            lines = _item_lines(node, "items", len(items), line)
            for item, item_line in zip(items, lines, strict=True):
                _add(item, label, item_line, objects, findings)
        else:
            _add(data, label, line, objects, findings)


def _documents(text: str, label: str) -> list[tuple[yaml.Node, Any]]:
    out: list[tuple[yaml.Node, Any]] = []
    line = 1
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks every character first
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            line = node.start_mark.line + 1
            out.append((node, loader.construct_document(node)))
    except yaml.MarkedYAMLError as exc:
        mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
        where = f"{label}:{mark.line + 1}" if mark else label
        what = str(exc.problem or exc.context)
        if exc.context and start is not None:
            what += f" ({exc.context} at line {start.line + 1})"
        raise InvalidParams(f"{where}: invalid YAML: {what}. Fix the file and retry.") from exc
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        where = f"{label}:{text.count(chr(10), 0, position) + 1}" if position else label
        raise InvalidParams(f"{where}: invalid YAML: {exc}. Fix the file and retry.") from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidParams(
            f"{label}:{line}: this YAML document cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}). Fix the document and retry."
        ) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return out


def _check_expansion(data: Any, where: str) -> None:
    """Refuse documents that refer to themselves or balloon through YAML aliases, and text
    holding a lone surrogate (``"\\ud800"``), which is no character and cannot be written."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(value: Any) -> int:
        if isinstance(value, str) and _SURROGATE.search(value):
            raise InvalidParams(
                f"{where}: the text {value[:60]!r} holds a \\u escape of a lone UTF-16 "
                "surrogate, which is not a character. Write the character itself (or its "
                "\\U escape) and retry."
            )
        if not isinstance(value, dict | list):
            return 1
        if id(value) in sizes:
            return sizes[id(value)]
        if id(value) in active:
            raise InvalidParams(f"{where}: this document contains itself (YAML aliases).")
        active.add(id(value))
        total = 1
        for child in value.values() if isinstance(value, dict) else value:
            total += size(child)
        for key in value if isinstance(value, dict) else ():
            size(key)
        active.discard(id(value))
        sizes[id(value)] = total
        return total

    try:
        total = size(data)
    except RecursionError as exc:
        raise InvalidParams(f"{where}: this document is nested too deeply.") from exc
    if total > _MAX_VALUES:
        raise InvalidParams(
            f"{where}: through YAML aliases this document expands to {total} values, more "
            f"than the {_MAX_VALUES} accepted. Write it without aliases."
        )


def _item_lines(node: yaml.Node, key: str, count: int, default: int) -> list[int]:
    """1-based start lines of the items of the sequence under ``key`` in mapping ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key and isinstance(value_node, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value_node.value]
                if len(lines) == count:
                    return lines
    return [default] * count


def _not_an_object(label: str, line: int, which: str, what: str) -> Finding:
    return Finding(
        "error",
        Source(label, line, "(no kind)", f"({which.lower()})"),
        f"{which} is a {what}, not a Kubernetes object, so it was not converted.",
        "Make it a mapping with apiVersion, kind and metadata.name, or remove it.",
    )


def _add(
    doc: Any, label: str, line: int, objects: list[K8sObject], findings: list[Finding]
) -> None:
    """Append ``doc`` as an object, or an error finding saying what it lacks."""
    if not isinstance(doc, dict):
        findings.append(_not_an_object(label, line, "An item of this List", type(doc).__name__))
        return
    kind = doc.get("kind")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    shown_kind = kind if isinstance(kind, str) and kind else "(no kind)"
    shown_name = name if isinstance(name, str) and name else "(no name)"
    source = Source(label, line, shown_kind, shown_name)
    problem = _object_problem(kind, meta, name)
    if problem is not None:
        findings.append(Finding("error", source, problem[0], problem[1]))
        return
    assert isinstance(meta, dict)
    namespace = meta.get("namespace")
    api_version = doc.get("apiVersion")
    objects.append(
        K8sObject(
            kind=shown_kind,
            api_version=api_version if isinstance(api_version, str) else "",
            name=shown_name,
            namespace=namespace if isinstance(namespace, str) and namespace else None,
            body=doc,
            source=source,
        )
    )


def _object_problem(kind: Any, meta: Any, name: Any) -> tuple[str, str] | None:
    if not isinstance(kind, str) or not kind:
        return ("This document has no kind, so it is not a Kubernetes object.", _ADD_FIELDS)
    if not isinstance(meta, dict):
        return (f"This {kind} has no metadata mapping, so it has no name.", _ADD_FIELDS)
    if isinstance(name, str) and name:
        return None
    if name is None and isinstance(meta.get("generateName"), str):
        return (
            f"This {kind} only has metadata.generateName; objects are converted by name.",
            "Give it a fixed metadata.name.",
        )
    if name is None:
        return (f"This {kind} has no metadata.name.", _ADD_FIELDS)
    return (
        f"metadata.name of this {kind} is a {type(name).__name__}, not a string.",
        "Quote the name so that it is a string.",
    )


_ADD_FIELDS = "Add apiVersion, kind and metadata.name, or remove the document."


# --- kustomize --------------------------------------------------------------------------


def _kustomization_name(folder: Path) -> str:
    return next((n for n in _KUSTOMIZATIONS if (folder / n).is_file()), _KUSTOMIZATIONS[0])


# --- Helm -------------------------------------------------------------------------------


def _helm() -> Any:
    try:
        import helm_python  # the native library loads only when a chart is met
    except (ImportError, OSError) as exc:
        raise InvalidParams(
            "Rendering Helm charts needs the helm-python-sdk package "
            f"(pip install helm-python-sdk), which cannot be loaded here: {exc}. Or render the "
            "chart yourself (helm template NAME CHART > out.yaml) and pass the YAML."
        ) from exc
    return helm_python


def _check_release(release: str) -> None:
    helm = _helm()
    try:
        helm.validate_release_name(release)
    except helm.HelmError as exc:
        raise InvalidParams(f"Release name {release!r} is invalid: {exc}.") from exc


def _user_values(files: list[Path], expressions: list[str]) -> dict[str, Any]:
    """Values files merged in order, then every ``--set`` expression (last wins), like Helm."""
    merged: dict[str, Any] = {}
    for path in files:
        label = str(path)
        docs = [data for _, data in _documents(_read_text(path, label), label)]
        doc = docs[0] if docs else None
        if doc is None:
            continue
        if not isinstance(doc, dict) or len(docs) > 1:
            raise InvalidParams(f"{label}: a values file must hold one YAML mapping.")
        _deep_merge(merged, doc)
    if not expressions:
        return merged
    helm = _helm()
    for expr in expressions:
        if "=" not in expr or expr.startswith("="):
            raise InvalidParams(f"--set {expr!r}: expected key=value (a.b=c, list={{1,2}}).")
        try:
            _deep_merge(merged, helm.parse_set_string(expr))
        except helm.HelmError as exc:
            raise InvalidParams(f"--set {expr!r}: {exc}.") from exc
    return merged


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _deep_merge(old, value)
        else:
            into[key] = value


def _read_chart(
    unit: _Unit,
    label: str,
    options: tuple[dict[str, Any], str],
    objects: list[K8sObject],
    findings: list[Finding],
) -> None:
    """Render the chart at ``unit.path`` offline and add its objects and dependency notes."""
    helm = _helm()
    user_values, release = options
    folder = unit.path if unit.path.is_file() else None  # a .tgz is Helm's to read
    with without_links(unit.path, [] if folder else outside_links(unit.path)) as safe:
        try:
            chart = helm.Chart.load(str(safe))
        except helm.HelmError as exc:
            raise InvalidParams(
                f"{label}: not a loadable Helm chart: {exc}. Check its Chart.yaml."
            ) from exc
    with chart:  # read before rendering: Helm's dependency processing rewrites them
        metadata: dict[str, Any] = chart.metadata
        loaded = {str(d.get("name")) for d in chart.dependencies}
        crds: list[dict[str, str]] = chart.crds
        try:
            manifests: dict[str, str] = chart.render(
                user_values, name=release, namespace="default", is_install=True
            )
            merged: dict[str, Any] = chart.merge_values(user_values)
        except helm.HelmError as exc:
            raise InvalidParams(_template_error(str(exc), label)) from exc
    for template, text in sorted(manifests.items()):
        base_name = template.rsplit("/", 1)[-1]
        if base_name.startswith("_") or template.endswith("NOTES.txt") or not text.strip():
            continue
        _read_documents(text, _chart_file(template, label), objects, findings)
    for crd in sorted(crds, key=lambda c: c.get("filename", "")):
        crd_file = _chart_file(crd.get("filename", ""), label)
        _read_documents(crd.get("data", ""), crd_file, objects, findings)
    deps = [d for d in metadata.get("dependencies") or [] if isinstance(d, dict)]
    lines = _dependency_lines(unit.path, label, len(deps))
    for dep, line in zip(deps, lines, strict=True):
        if str(dep.get("name")) not in loaded and _dependency_enabled(dep, merged):
            findings.append(_dependency_finding(dep, (label, line), release, merged))


def _chart_file(template: str, chart_label: str) -> str:
    """``myapp/templates/x.yaml`` (Helm's name) -> ``<chart path>/templates/x.yaml``."""
    _, _, inside = template.partition("/")
    return f"{chart_label}/{inside}" if inside else chart_label


def _template_error(detail: str, chart_label: str) -> str:
    one_line = " ".join(detail.split())
    found = _HELM_WHERE.search(one_line)
    where = f"{_chart_file(found.group(1), chart_label)}:{found.group(2)}" if found else chart_label
    return (
        f"{where}: Helm template error: {one_line}. Fix the template or the values "
        "(--values FILE, --set key=value), or render the chart yourself and pass the YAML."
    )


def _dependency_lines(chart_path: Path, label: str, count: int) -> list[int]:
    """Lines of the ``dependencies`` entries of the chart's Chart.yaml (1 if unknown)."""
    chart_yaml = chart_path / _CHART_FILE
    if not chart_yaml.is_file():
        return [1] * count
    file = f"{label}/{_CHART_FILE}"
    nodes = _documents(_read_text(chart_yaml, file), file)
    return _item_lines(nodes[0][0], "dependencies", count, 1) if nodes else [1] * count


def _dependency_finding(
    dep: dict[str, Any], where: tuple[str, int], release: str, values: dict[str, Any]
) -> Finding:
    """The info finding for a dependency Helm could not render (not under charts/)."""
    label, line = where
    name = str(dep.get("name", ""))
    as_name = str(dep.get("alias") or name)
    raw = values.get(as_name)
    sub: dict[str, Any] = raw if isinstance(raw, dict) else {}
    fullname = str(sub.get("fullnameOverride") or "")
    if not fullname:  # the usual <release>-<name> rule of Bitnami's and `helm create`'s charts
        short = str(sub.get("nameOverride") or as_name)
        fullname = release if short in release else f"{release}-{short}"
    file = f"{label}/{_CHART_FILE}" if not label.endswith(".tgz") else label
    alias = f" (as {as_name})" if as_name != name else ""
    return Finding(
        "info",
        Source(file, line, "ChartDependency", name),
        f"Chart dependency {name} {dep.get('version', '')}{alias} from "
        f"{dep.get('repository') or 'no repository'} is not vendored under charts/ and cannot "
        f"be fetched offline; the chart was rendered without it, so its objects (usually "
        f"named {fullname[:63].rstrip('-')}) are missing.",
        "A database chart (postgresql, redis) becomes a Moorage add-on. For any other, run "
        f"`helm dependency build {label}` (needs the network) and convert again.",
    )


def _dependency_enabled(dep: dict[str, Any], values: dict[str, Any]) -> bool:
    """Helm's rule: the first condition path holding a bool decides, else any true tag."""
    condition = dep.get("condition")
    if isinstance(condition, str):
        for path in condition.split(","):
            value: Any = values
            for part in path.strip().split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, bool):
                return value
    tags = dep.get("tags")
    tag_values = values.get("tags")
    if isinstance(tags, list) and isinstance(tag_values, dict):
        flags = [tag_values[t] for t in tags if isinstance(tag_values.get(t), bool)]
        if flags:
            return any(flags)
    return True
