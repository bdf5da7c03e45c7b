"""What dynos may not reach from their networks, enforced by the host's firewall.

Docker evaluates its ``DOCKER-USER`` chain for every packet a container sends through the
host (and keeps that chain across its own restarts). One rule there rejects link-local
destinations (169.254.0.0/16: a cloud's instance metadata service, which hands out the
host's credentials). It applies to every container of this engine: a Moorage host runs
dynos, and nothing on it should reach the metadata service through a container.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger("moorage.runtime.firewall")
CHAIN = "DOCKER-USER"
LINK_LOCAL = "169.254.0.0/16"
RULE = [
    "-d", LINK_LOCAL, "-m", "comment", "--comment", "moorage: no link-local from dynos",
    "-j", "REJECT", "--reject-with", "icmp-net-prohibited",
]  # fmt: skip


def block_link_local() -> bool:
    """Add the rule unless it is there; False (and a warning) when it cannot be added."""
    iptables = shutil.which("iptables")
    if iptables is None:
        log.warning("no iptables: dynos can reach link-local addresses (cloud metadata)")
        return False
    check = subprocess.run([iptables, "-w", "-C", CHAIN, *RULE], capture_output=True, check=False)
    if check.returncode == 0:
        return True
    add = subprocess.run(
        [iptables, "-w", "-I", CHAIN, "1", *RULE], capture_output=True, text=True, check=False
    )
    if add.returncode != 0:
        log.warning("cannot block link-local addresses from dynos: %s", add.stderr.strip())
        return False
    return True
