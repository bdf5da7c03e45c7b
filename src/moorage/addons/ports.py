"""Ports of add-on servers: the lowest one of a range that is recorded nowhere and free."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from moorage.errors import ComponentFailed


def port_free(port: int, listen: list[str]) -> bool:
    """True when nothing listens on ``port`` at any of the ``listen`` addresses (an address
    written ``-addr`` is optional: one that cannot be bound at all is skipped)."""
    for addr in listen:
        host = addr.lstrip("-")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def allocate(ports: range, taken: Iterable[int], listen: list[str], what: str) -> int:
    """The lowest port of ``ports`` not in ``taken`` that nothing listens on."""
    used = set(taken)
    for port in ports:
        if port not in used and port_free(port, listen):
            return port
    raise ComponentFailed(
        f"No free port left for {what} in {ports.start}-{ports.stop - 1}: remove unused "
        "add-ons or widen the port range."
    )
