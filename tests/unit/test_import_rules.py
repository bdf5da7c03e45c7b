"""DESIGN.md's import rules, read with ``ast`` from every module under src/moorage (imports at
module level, in functions and under ``TYPE_CHECKING`` alike).

- ``spec`` and ``errors`` import nothing of moorage but each other;
- ``runtime``, ``router``, ``addons`` and ``convert`` import only ``spec``, ``errors`` and
  their own package;
- ``moorage.runtime`` and ``moorage.router`` are imported only by the reconciler (and its
  helper ``background/ports.py``), the sessions component (``server/sessions/``), and the
  exceptions in :data:`ALLOWED`, each with its reason;
- ``cli`` never imports ``moorage.server``, ``moorage.admin``, ``moorage.stack`` or docker;
- ``web`` never imports ``moorage.server.routes``;
- ``schemas`` imports only ``spec``, ``errors`` and ``schemas``;
- ``client`` never imports ``moorage.server``.

A failure lists each module that breaks a rule, with the line and what it imports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src"
PACKAGE = ROOT / "moorage"
RECONCILER = ("moorage.server.background.reconciler", "moorage.server.background.ports")
SESSIONS = "moorage.server.sessions"

# (importing module, what it imports: a package or module and everything under it) -> why
ALLOWED: dict[tuple[str, str], str] = {
    ("moorage.server.platform", "moorage.router"): (
        "wiring at start: constructs the router (NginxRouter, its Edge and access log), the "
        "edge certificates and room in the neighbour table; it also asks the runtime it just "
        "made for the host gateway address the add-ons listen on, before the reconciler exists"
    ),
    ("moorage.server.engines", "moorage.runtime"): (
        "constructs the runtime the settings choose at start (make_runtime: Docker or Swarm, "
        "the link-local firewall, the subnet pool), and owns the Swarm nodes' registry login "
        "(NODE_USER, node_password), which routes/registry_auth.py checks through it"
    ),
    ("moorage.server.addresses", "moorage.runtime"): (
        "the state store as the ledger behind the runtime's SubnetPool, built once at start "
        "and handed to make_runtime; it calls no runtime object"
    ),
    ("moorage.server.services.certs", "moorage.router"): (
        "the SNI endpoints API checks certificate and key pairs with router/sni.py's pure "
        "functions (inspect_pair, covers, load_roots); no router object is called"
    ),
    ("moorage.admin.nodes", "moorage.runtime"): (
        "`moor nodes*` are operator commands run as root on the manager host without the "
        "server (like `moor setup`): they read the swarm's nodes with swarm_nodes directly"
    ),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, moorage.server.platform
    path: Path
    line: int
    target: str  # the imported module, moorage.router.nginx (or docker.errors)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT.parent)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the importing module's package, up level - 1
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if _is_module(sub) else base  # `from moorage import errors` is a module


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path.name == "__init__.py"):
                    found.append(Import(module, path, node.lineno, target))
    return tuple(dict.fromkeys(found))  # `from x import a, b` of one module: once


def under(name: str, *packages: str) -> bool:
    """``name`` is one of ``packages`` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def _moorage(name: str) -> bool:
    return under(name, "moorage")


def _pkg(module: str) -> str:
    """moorage.runtime.docker -> moorage.runtime; moorage.errors -> moorage.errors."""
    return ".".join(module.split(".")[:2])


PURE = ("moorage.spec", "moorage.errors")
BOUNDED = ("moorage.runtime", "moorage.router", "moorage.addons", "moorage.convert")


@dataclass(frozen=True)
class Rule:
    name: str
    text: str
    broken: Callable[[Import], bool] = field(repr=False)


RULES = [
    Rule(
        "pure",
        "spec and errors import nothing of moorage but each other",
        lambda i: under(i.module, *PURE) and _moorage(i.target) and not under(i.target, *PURE),
    ),
    Rule(
        "bounded",
        "runtime, router, addons and convert import only spec, errors and their own package",
        lambda i: (
            under(i.module, *BOUNDED)
            and _moorage(i.target)
            and not under(i.target, *PURE, _pkg(i.module))
        ),
    ),
    Rule(
        "runtime-router",
        "moorage.runtime and moorage.router are imported only by the reconciler, the sessions "
        "component and the exceptions in ALLOWED",
        lambda i: (
            under(i.target, "moorage.runtime", "moorage.router")
            and not under(i.module, _pkg(i.target), *RECONCILER, SESSIONS)
        ),
    ),
    Rule(
        "cli",
        "cli never imports moorage.server, moorage.admin, moorage.stack or docker",
        lambda i: (
            under(i.module, "moorage.cli")
            and under(i.target, "moorage.server", "moorage.admin", "moorage.stack", "docker")
        ),
    ),
    Rule(
        "web",
        "web never imports moorage.server.routes",
        lambda i: under(i.module, "moorage.web") and under(i.target, "moorage.server.routes"),
    ),
    Rule(
        "schemas",
        "schemas import only spec, errors and schemas",
        lambda i: (
            under(i.module, "moorage.schemas")
            and _moorage(i.target)
            and not under(i.target, *PURE, "moorage.schemas")
        ),
    ),
    Rule(
        "client",
        "client never imports moorage.server",
        lambda i: under(i.module, "moorage.client") and under(i.target, "moorage.server"),
    ),
]


def _allowed(i: Import) -> bool:
    return any(i.module == who and under(i.target, what) for who, what in ALLOWED)


def test_the_sources_are_found() -> None:
    modules = {i.module for i in imports()}
    assert {"moorage.server.platform", "moorage.cli.apps", "moorage.spec.dyno"} <= modules


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule(rule: Rule) -> None:
    broken = [i for i in imports() if rule.broken(i) and not _allowed(i)]
    report = "\n".join(f"  {i.where()}: {i.module} imports {i.target}" for i in broken)
    if broken:
        print(f"breaks '{rule.text}':\n{report}")
    assert not broken, f"these modules break '{rule.text}':\n{report}"


def test_every_exception_is_still_needed() -> None:
    """An entry nothing needs any more is removed, so the list says what is true."""
    used = {
        (who, what)
        for i in imports()
        for who, what in ALLOWED
        if i.module == who and under(i.target, what) and any(r.broken(i) for r in RULES)
    }
    stale = sorted(set(ALLOWED) - used)
    assert not stale, "remove these ALLOWED entries, nothing breaks a rule there now:\n" + (
        "\n".join(f"  {who} imports {what}" for who, what in stale)
    )
