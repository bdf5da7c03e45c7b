"""What DNS says a name's TXT records are: the proof that a custom domain's owner controls it.

Lookups go to the operator's resolvers (``MOORAGE_DNS_RESOLVERS``) or the system's, through
dnspython. "No such name" and "no TXT record" are an empty answer (the user has not added the
record yet); no resolver answering is :class:`~moorage.errors.DnsUnreachable`, so a DNS
outage is never taken for a missing record.
"""

from __future__ import annotations

import dns.exception
import dns.nameserver
import dns.resolver

from moorage.errors import DnsUnreachable
from moorage.settings import resolver_address

LOOKUP_SECONDS = 4.0


def _resolver(servers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    try:
        resolver = dns.resolver.Resolver(configure=not servers)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsUnreachable(
            "This server has no DNS resolver configured (/etc/resolv.conf); the operator "
            "can name one with MOORAGE_DNS_RESOLVERS."
        ) from exc
    if servers:
        resolver.nameservers = [_nameserver(s) for s in servers]
    resolver.lifetime = timeout
    resolver.cache = None  # a record the user just added must be seen
    return resolver


def _nameserver(item: str) -> dns.nameserver.Nameserver:
    host, port = resolver_address(item)
    return dns.nameserver.Do53Nameserver(host, int(port))


def txt_values(
    name: str, servers: tuple[str, ...] = (), timeout: float = LOOKUP_SECONDS
) -> list[str]:
    """The TXT strings published at ``name`` (each record's strings joined), [] if none."""
    resolver = _resolver(servers, timeout)
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        where = ", ".join(servers) or "the system's resolvers"
        raise DnsUnreachable(
            f"DNS did not answer for {name} ({where}: {type(exc).__name__}). Try again in a "
            "minute; if it persists, the platform's operator should check its DNS resolvers."
        ) from exc
    return [b"".join(record.strings).decode(errors="replace") for record in answer]
