"""Secrets written literally in commands move into config vars.

A manifest may carry a secret in a container's ``command``/``args``: the value of a Secret
it also holds (``--password s3cret`` next to ``secretKeyRef: s3cret``), or a literal after a
password-style flag (``--password=hunter2``, ``--api-key abc``). On the platform a process
command is not sealed (``moor ps`` shows it), and the files ``k8s:convert`` writes are read
by people. So such a value becomes a secret config var of the app and the command reads it
as ``${KEY}`` (the dyno's shell expands it), with a finding that says so. Only whole tokens
are matched: a Secret value ``username`` leaves ``--username`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from moorage.convert.model import AppPlan, ConfigVar, Finding, Source

MIN_SECRET = 4  # shorter values are too likely to be ordinary words
_WORD_CHAR = r"[\w.-]"
_FLAG = re.compile(
    r"(?<!\S)(--?[A-Za-z][\w-]*)(=|\s+)(\"[^\"]*\"|'[^']*'|[^\s\"']+)",
)
_SECRET_FLAG = re.compile(
    r"(^|[-_])(password|passwd|pass|pwd|token|secret|api[-_]?key|access[-_]?key|"
    r"private[-_]?key|client[-_]?secret)$",
    re.I,
)


def whole(value: str) -> re.Pattern[str]:
    """``value`` as a whole token (not inside a longer word, flag or name)."""
    return re.compile(rf"(?<!{_WORD_CHAR}){re.escape(value)}(?!{_WORD_CHAR})")


def move_literal_secrets(
    plans: list[AppPlan], secret_values: Iterable[str], findings: list[Finding]
) -> None:
    """Rewrite each app's commands so that no secret is written in them."""
    known = sorted({v for v in secret_values if len(v) >= MIN_SECRET}, key=len, reverse=True)
    for plan in plans:
        for p in plan.processes:
            where = p.sources[0] if p.sources else None
            p.command = _clean(plan, p.command, p.type, known, where, findings)
        anchor = next((s for p in plan.processes for s in p.sources), None)
        plan.release_command = _clean(
            plan, plan.release_command, "release", known, anchor, findings
        )
        for job in plan.schedules:
            job.command = _clean(plan, job.command, job.name, known, job.sources[0], findings) or ""


def _clean(
    plan: AppPlan,
    command: str | None,
    what: str,
    known: list[str],
    where: Source | None,
    findings: list[Finding],
) -> str | None:
    if not command:
        return command
    moved: list[str] = []
    for value in known:
        pattern = whole(value)
        if pattern.search(command):
            key = _var_for(plan, value, f"{what}_SECRET")
            command = pattern.sub(f"${{{key}}}", command)
            moved.append(key)
    for match in list(_FLAG.finditer(command)):
        flag, literal = match[1], match[3].strip("'\"")
        if not _SECRET_FLAG.search(flag.lstrip("-")) or "$" in literal or len(literal) < 1:
            continue
        key = _var_for(plan, literal, flag.lstrip("-").replace("-", "_").upper())
        command = command.replace(match[0], f"{flag}{match[2]}${{{key}}}", 1)
        moved.append(key)
    if moved and where is not None:
        findings.append(
            Finding(
                "warning",
                where,
                f"{what}: a secret written in the command moved to the config var(s) "
                f"{', '.join(sorted(set(moved)))}; the command reads it from there.",
                "Nothing to do; keep secrets out of commands (use a Secret and an env var).",
            )
        )
    return command


def _var_for(plan: AppPlan, value: str, wanted: str) -> str:
    """The app's secret config var holding ``value`` (one is made if none does)."""
    for var in plan.config:
        if var.value == value:
            var.secret = True
            return var.key
    base = re.sub(r"[^A-Z0-9_]", "_", wanted.upper()).strip("_") or "SECRET"
    base = base if base[0].isalpha() else f"S_{base}"
    taken = {v.key for v in plan.config}
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    plan.config.append(ConfigVar(key, value, True, "moved out of a command of the manifests"))
    return key
