"""Who may have a custom domain: the owner DNS names.

Anybody can type any host name into ``domains:add``; only whoever controls the name's DNS
can publish a TXT record at ``_moorage-challenge.<hostname>``. Each owner (the user who owns
the app) has a challenge value per host name, an HMAC of both under the platform secret: it
needs no storage, so it can be shown to someone whose claim is still refused. Once DNS shows
it, the domain is *proven* (``verified_at``) and its owner holds the name and every name
under it:

- another owner cannot add the name or a name under it, unless DNS shows *their* value for
  that very name (the zone's DNS admin gave it to them): the most specific proof decides;
- another owner's unproven domain at or under it stops being routed (status ``failed``);
- an unproven domain of another owner with the same name is taken over by the proof.

With ``MOORAGE_DOMAINS_NEED_PROOF`` a domain is routed only once proven (status
``pending`` until then, which Heroku's ``domains:wait`` waits on); without it an unproven
domain is routed while nobody else proves the name (Heroku's own behaviour).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.dnsproof import txt_values
from moorage.server.store.models import App, Domain
from moorage.spec.status import ProofStatus

PREFIX = "_moorage-challenge"
RECHECK_SECONDS = 5.0  # reads of a pending domain look DNS up at most this often

Standing = ProofStatus


def record_name(hostname: str) -> str:
    return f"{PREFIX}.{hostname}"


def parents(hostname: str) -> list[str]:
    """``a.b.example.com`` -> [a.b.example.com, b.example.com, example.com] (no bare TLD)."""
    labels = hostname.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


@dataclass(frozen=True)
class Claims:
    """The proven domains (host name -> owner id) at one moment, and what they decide."""

    holders: dict[str, str]
    need_proof: bool = False

    @classmethod
    def load(cls, session: Session, need_proof: bool = False) -> Claims:
        rows = session.execute(
            select(Domain.hostname, App.owner_id)
            .join(App, App.id == Domain.app_id)
            .where(Domain.verified_at.is_not(None))
        )
        return cls({host: owner for host, owner in rows}, need_proof)

    def holder(self, hostname: str) -> tuple[str, str] | None:
        """The most specific proven name at or above ``hostname``, and its owner."""
        for name in parents(hostname):
            if name in self.holders:
                return name, self.holders[name]
        return None

    def standing(self, domain: Domain) -> Standing:
        if domain.verified_at is not None:
            return ProofStatus.SUCCEEDED
        held = self.holder(domain.hostname)
        if held is None:
            return ProofStatus.PENDING if self.need_proof else ProofStatus.SUCCEEDED
        return ProofStatus.SUCCEEDED if held[1] == domain.app.owner_id else ProofStatus.FAILED

    def routed(self, domains: list[Domain]) -> list[Domain]:
        return [d for d in domains if self.standing(d) == ProofStatus.SUCCEEDED]


class Prover:
    """Looks the challenge up in DNS; remembers answers briefly so that reads of a pending
    domain (``domains:wait`` polls every 5 s) cost one lookup per :data:`RECHECK_SECONDS`."""

    def __init__(
        self,
        secret: bytes,
        resolvers: tuple[str, ...] = (),
        lookup: Callable[[str, tuple[str, ...]], list[str]] = txt_values,
    ) -> None:
        self._secret = secret
        self._resolvers = resolvers
        self._lookup = lookup
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}

    def value(self, owner_id: str, hostname: str) -> str:
        mac = hmac.new(self._secret, f"domain {owner_id} {hostname}".encode(), hashlib.sha256)
        return f"moorage-verification={mac.hexdigest()[:32]}"

    def proven(self, owner_id: str, hostname: str) -> bool:
        """DNS shows ``owner_id``'s value for ``hostname`` now (raises DnsUnreachable)."""
        found = self.value(owner_id, hostname) in self._lookup(
            record_name(hostname), self._resolvers
        )
        with self._lock:
            self._seen[(owner_id, hostname)] = (time.monotonic(), found)
        return found

    def proven_lately(self, owner_id: str, hostname: str) -> bool:
        """:meth:`proven`, or its answer of the last few seconds."""
        with self._lock:
            seen = self._seen.get((owner_id, hostname))
        if seen is not None and time.monotonic() - seen[0] < RECHECK_SECONDS:
            return seen[1]
        return self.proven(owner_id, hostname)

    def how_to(self, owner_id: str, hostname: str) -> str:
        """What to publish, in words."""
        return (
            f"add a DNS TXT record {record_name(hostname)} with the value "
            f'"{self.value(owner_id, hostname)}"'
        )
