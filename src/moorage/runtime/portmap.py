"""Service ports on the group network: callers use a Kubernetes Service's port, the process
listens on its container port (``ports: [{port: 80, targetPort: 8080}]``).

Docker maps no ports between containers of a network, so the platform redirects them inside
the dyno's own network namespace, as kube-proxy does on a node: one ``REDIRECT`` rule in
that namespace's ``nat`` table per port, added with the host's iptables through
``nsenter``. The namespace is new at every start of the container (a crash restart too), so
the rules are added after each start. Nothing changes for the dyno: it keeps no capability,
and the rules live and die with its namespace.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)
LABEL_KEY = "moorage.ports"


def label(pairs: tuple[tuple[int, int], ...]) -> str:
    """``80:8080,443:8443``: the pairs as a container label."""
    return ",".join(f"{p}:{t}" for p, t in pairs)


def parse(value: str) -> list[tuple[int, int]]:
    out = []
    for item in value.split(","):
        port, _, target = item.partition(":")
        if port.isdigit() and target.isdigit():
            out.append((int(port), int(target)))
    return out


def _rule(port: int, target: int) -> list[str]:
    return [
        "PREROUTING", "-p", "tcp", "--dport", str(port),
        "-m", "comment", "--comment", "moorage: service port",
        "-j", "REDIRECT", "--to-ports", str(target),
    ]  # fmt: skip


def redirect(pid: int, pairs: list[tuple[int, int]]) -> str | None:
    """Add the rules in the network namespace of process ``pid`` unless they are there;
    None when done, else why not (the dyno still answers on its own ports)."""
    nsenter, iptables = shutil.which("nsenter"), shutil.which("iptables")
    if nsenter is None or iptables is None:
        return "nsenter or iptables is missing on the host"
    enter = [nsenter, f"--net=/proc/{pid}/ns/net", iptables, "-w", "-t", "nat"]
    for port, target in pairs:
        check = subprocess.run([*enter, "-C", *_rule(port, target)], capture_output=True)
        if check.returncode == 0:
            continue
        add = subprocess.run([*enter, "-A", *_rule(port, target)], capture_output=True, text=True)
        if add.returncode != 0:
            return add.stderr.strip() or f"iptables exited {add.returncode}"
    return None
