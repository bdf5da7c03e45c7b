"""Room in the kernel's neighbour (ARP) table for a router that talks to thousands of dynos.

The router reaches each web dyno on the dyno's own app network, so the host keeps one
neighbour entry per dyno it sends requests to. Linux's defaults (``gc_thresh1/2/3`` =
128/512/1024) have the kernel evict entries aggressively past 512 and refuse new ones past
1024. A host with a thousand apps is past both: a request whose dyno's entry was evicted or
refused waits for its connection to be retried. The platform raises the thresholds, as
Kubernetes distributions do on large nodes; it never lowers them.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
TABLE = Path("/proc/sys/net/ipv4/neigh/default")
# highest first: the kernel expects gc_thresh1 <= gc_thresh2 <= gc_thresh3
THRESHOLDS = (("gc_thresh3", 32768), ("gc_thresh2", 16384), ("gc_thresh1", 4096))


def ensure_room(table: Path = TABLE) -> list[str]:
    """Raise the IPv4 neighbour table's thresholds to :data:`THRESHOLDS` where they are
    lower; what changed (``"gc_thresh3 1024 -> 32768"``). Not root, or no such file: a
    warning, nothing changed."""
    changed = []
    for name, want in THRESHOLDS:
        path = table / name
        try:
            current = int(path.read_text().strip())
            if current < want:
                path.write_text(f"{want}\n")
                changed.append(f"{name} {current} -> {want}")
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the neighbour table's %s: %s", name, exc)
    if changed:
        log.info("neighbour table: %s", ", ".join(changed))
    return changed
