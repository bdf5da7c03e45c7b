"""Where the platform's own outbound requests may go: public addresses only.

Log drains and ``pg:backups:restore <URL>`` make the server connect where a user says. The
server sits on every dyno and add-on network and on loopback, so without a check a user could
reach another tenant's dyno or Redis, or the platform's API, through it. Every such
connection goes through :class:`Egress`: the host name is resolved, every address it
resolves to must be public (not loopback, link-local, private, CGNAT, multicast, reserved or
unspecified) unless an operator listed it in ``MOORAGE_EGRESS_ALLOW`` (CIDRs, comma
separated), and the connection goes to the very address that was checked (no second lookup
that DNS could answer differently). HTTP redirects are followed by hand, each hop checked.
Refusals name the host, never whether a port there is open.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from moorage.errors import InvalidParams

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def parse_allow(text: str) -> tuple[Network, ...]:
    """``MOORAGE_EGRESS_ALLOW``: CIDRs (or addresses) separated by commas."""
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p)
    except ValueError as exc:
        raise InvalidParams(f"MOORAGE_EGRESS_ALLOW: {exc}; give CIDRs like 10.1.2.0/24.") from exc


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _internal(ip.ipv4_mapped)
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


@dataclass(frozen=True)
class Egress:
    """The outbound policy: public addresses, plus the operator's ``allow`` list."""

    allow: tuple[Network, ...] = ()

    def permitted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return not _internal(ip) or any(ip in net for net in self.allow)

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for ``host``: every address it resolves to must be
        permitted (a name with one internal address among public ones is refused)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise InvalidParams(f"Cannot resolve {host}: {exc}.") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses or not all(self.permitted(a) for a in addresses):
            raise InvalidParams(
                f"{host} is a loopback, private or link-local address, which the platform "
                "does not connect to for drains or restores. An operator can allow it with "
                "MOORAGE_EGRESS_ALLOW."
            )
        return addresses[0]

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.resolve(host, port), port), timeout=timeout)

    def post(
        self, client: httpx.Client, url: str, content: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        """POST to the checked address of ``url``'s host; a redirect is not followed."""
        pinned, host, extensions = self._pin(url)
        return client.post(
            pinned, content=content, headers={**headers, "Host": host}, extensions=extensions
        )

    @contextmanager
    def stream_get(self, client: httpx.Client, url: str) -> Iterator[httpx.Response]:
        """GET ``url`` following up to :data:`MAX_REDIRECTS` redirects, each one checked."""
        for _ in range(MAX_REDIRECTS + 1):
            pinned, host, extensions = self._pin(url)
            request = client.build_request(
                "GET", pinned, headers={"Host": host}, extensions=extensions
            )
            resp = client.send(request, stream=True, follow_redirects=False)
            if resp.is_redirect and "location" in resp.headers:
                resp.close()
                url = urljoin(url, resp.headers["location"])
                continue
            try:
                yield resp
            finally:
                resp.close()
            return
        raise InvalidParams(f"More than {MAX_REDIRECTS} redirects; give the file's own URL.")

    def _pin(self, url: str) -> tuple[str, str, dict[str, object]]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParams(f"Only http(s) URLs can be fetched, not {parts.scheme or url}.")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self.resolve(parts.hostname, port)
        shown = f"[{address}]" if ":" in address else address
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        pinned = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
        extensions: dict[str, object] = {}
        if parts.scheme == "https":
            extensions["sni_hostname"] = parts.hostname
        return pinned, host, extensions
