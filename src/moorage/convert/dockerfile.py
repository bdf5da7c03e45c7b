"""``moor doctor``: what in a Dockerfile the platform will work around, and how.

Pure: Dockerfile text in, :class:`Check` list out. It looks at the final stage only (what
runs as the dyno): a start command that ignores ``$PORT`` (``flask run`` without a port,
a hard-coded ``--bind``/``--port``/``-p``), no ``EXPOSE``, and running as root.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_BIND = re.compile(
    r"(?:--bind[= ]|-b |--port[= ]|-p |--listen[= ]|port=)\s*['\"]?(?:[\w.\-]*:)?(\d{2,5})\b"
)


@dataclass(frozen=True)
class Check:
    severity: str  # "warning" or "info"
    line: int
    what: str
    platform_does: str


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[int, str, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    return out


def _command_text(args: str) -> str:
    if args.startswith("["):
        try:
            parts = json.loads(args)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
            return args
        if isinstance(parts, list):
            return " ".join(str(p) for p in parts)
    return args


def check(text: str) -> list[Check]:
    """The checks for the last stage of ``text``."""
    steps = _instructions(text)
    last_from = max((i for i, (_, word, _) in enumerate(steps) if word == "FROM"), default=0)
    stage = steps[last_from:]
    found: list[Check] = []
    cmd = [(n, _command_text(a)) for n, w, a in stage if w in ("CMD", "ENTRYPOINT")]
    for n, command in cmd:
        found += _port_checks(n, command)
    if not any(w == "EXPOSE" for _, w, _ in stage):
        found.append(
            Check(
                "info",
                1,
                "No EXPOSE: the port the image listens on is not declared.",
                "Web dynos get PORT=8080; if the image listens elsewhere, run "
                "`moor ps:port web PORT -a APP`.",
            )
        )
    users = [(n, a.split(":")[0]) for n, w, a in stage if w == "USER"]
    if not users or users[-1][1] in ("root", "0"):
        line = users[-1][0] if users else 1
        found.append(
            Check(
                "info",
                line,
                "The image runs as root.",
                "Dynos run as nobody (uid 65534) without capabilities; files the app "
                "writes must be writable by that user (e.g. /tmp).",
            )
        )
    return found


def _port_checks(line: int, command: str) -> list[Check]:
    out = []
    if (
        re.search(r"\bflask\s+run\b", command)
        and "PORT" not in command
        and not _BIND.search(command)
    ):
        out.append(
            Check(
                "warning",
                line,
                "`flask run` listens on port 5000, not on $PORT.",
                "Declare it with `moor ps:port web 5000 -a APP` (k8s:import does this "
                "from containerPort), or start it with `--port $PORT`.",
            )
        )
    bind = _BIND.search(command)
    if bind and "PORT" not in command:
        port = bind.group(1)
        out.append(
            Check(
                "warning",
                line,
                f"The start command binds port {port}, not $PORT.",
                f"Declare it with `moor ps:port web {port} -a APP`, or use $PORT.",
            )
        )
    return out
