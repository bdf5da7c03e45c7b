"""Custom domains: host names the router sends to an app, and the DNS proof of who owns them
(see :mod:`moorage.server.services.domainproof`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, DnsUnreachable, InvalidParams, NotFound
from moorage.schemas import domains as shapes
from moorage.schemas.base import Ref
from moorage.server.services import certs
from moorage.server.services.domainproof import Claims, Prover, Standing
from moorage.server.store.models import App, Domain, now
from moorage.settings import Settings
from moorage.spec.names import validate_dns_label
from moorage.spec.status import ProofStatus


def add(
    session: Session,
    app: App,
    hostname: str,
    settings: Settings,
    prover: Prover,
    sni_endpoint: str | None = None,
) -> Domain:
    """Route ``hostname`` to ``app``. A name the platform has is refused; so is one another
    owner has or has proven (itself or a name above it), unless DNS shows this owner's proof
    for it now or this owner proved a name above it: then the other's domain is taken over.

    It gets the certificate ``sni_endpoint`` names, or else the app's newest one covering it."""
    name = _hostname(hostname, settings)
    taken = session.scalar(select(Domain).where(Domain.hostname == name))
    if taken is not None and taken.app.owner_id == app.owner_id:
        raise Conflict(f"{name} is already a domain of {taken.app.name}.")
    held = Claims.load(session).holder(name)
    mine = held is not None and held[1] == app.owner_id  # the most specific proof is ours
    contest = ""
    if taken is not None and not mine:
        contest = f"{name} is already a domain of another app"
    elif held is not None and not mine:
        contest = f"{name} is under {held[0]}, which another owner has proven theirs in DNS"
    proven = False
    if contest:
        _prove_or_refuse(prover, app, name, contest)
        proven = True
    if taken is not None:  # another owner's, unproven or proven by less than this owner
        taken.app.domains.remove(taken)
        session.flush()
    if not proven and settings.domains_need_proof:
        proven = _proven_if_dns_answers(prover, app.owner_id, name)
    domain = Domain(app_id=app.id, hostname=name, verified_at=now() if proven else None)
    app.domains.append(domain)  # in the session before a certificate refers to it
    if sni_endpoint is not None:
        certs.set_for_domain(app, domain, sni_endpoint)
    else:
        domain.sni_endpoint = certs.default_for(app, name)
    session.flush()
    return domain


def _hostname(hostname: str, settings: Settings) -> str:
    name = validate_dns_label(hostname.strip().lower().rstrip("."), "Domain", dots=True)
    if "." not in name:
        raise InvalidParams(f"{name!r} is not a full host name such as www.example.com.")
    if name == settings.domain or name.endswith("." + settings.domain):
        raise Conflict(f"{name} is under the platform's own domain {settings.domain}.")
    return name


def _prove_or_refuse(prover: Prover, app: App, name: str, why: str) -> None:
    """Return if DNS shows ``app``'s owner's proof for ``name``; else say ``why`` not and
    how to give it (the other side is never named by owner)."""
    try:
        if prover.proven(app.owner_id, name):
            return
        checked = ""
    except DnsUnreachable as exc:
        checked = f" (DNS could not be asked just now: {exc.message})"
    raise Conflict(
        f"{why}{checked}. If the name is yours, {prover.how_to(app.owner_id, name)}, then run "
        f"`moor domains:add {name} -a {app.name}` again: the proof moves the name to {app.name}."
    )


def _proven_if_dns_answers(prover: Prover, owner_id: str, name: str) -> bool:
    try:
        return prover.proven(owner_id, name)
    except DnsUnreachable:
        return False  # stays pending; domains:verify or a read looks again


def verify(app: App, domain: Domain, prover: Prover) -> None:
    """Look the proof up now: prove ``domain`` or say what DNS is missing."""
    if domain.verified_at is not None:
        return
    if prover.proven(app.owner_id, domain.hostname):
        domain.verified_at = now()
        return
    raise InvalidParams(
        f"DNS does not show the proof for {domain.hostname} yet: "
        f"{prover.how_to(app.owner_id, domain.hostname)}. DNS changes can take minutes to "
        f"spread; then run `moor domains:verify {domain.hostname} -a {app.name}` again."
    )


def refresh(
    session: Session, app: App, domain: Domain, prover: Prover, settings: Settings
) -> Standing:
    """The domain's standing, after a DNS look (at most one per few seconds) if it is not
    routed for want of a proof: so ``domains:wait`` ends once the record is published."""
    claims = Claims.load(session, settings.domains_need_proof)
    standing = claims.standing(domain)
    if standing == ProofStatus.SUCCEEDED:
        return standing
    try:
        if prover.proven_lately(app.owner_id, domain.hostname):
            domain.verified_at = now()
            session.flush()
            return ProofStatus.SUCCEEDED
    except DnsUnreachable:
        pass
    return standing


def find(app: App, ident: str) -> Domain:
    """A domain of ``app`` by host name or id."""
    for d in app.domains:
        if ident in (d.id, d.hostname) or d.hostname == ident.strip().lower().rstrip("."):
            return d
    raise NotFound(f"{app.name} has no domain {ident}. See `moor domains -a {app.name}`.")


def remove(session: Session, app: App, domain: Domain) -> None:
    app.domains.remove(domain)
    session.flush()


def view(
    d: Domain, settings: Settings, standing: Standing, proof: tuple[str, str]
) -> shapes.Domain:
    """``standing``: succeeded (routed), pending (waits for its DNS proof), failed (another
    owner proved the name above it); ``proof``: the TXT record that proves it, and its value."""
    verification = shapes.Verification(
        record=proof[0],
        value=proof[1],
        verified=d.verified_at is not None,
        verified_at=d.verified_at,
    )
    cert = d.sni_endpoint
    return shapes.Domain(
        id=d.id,
        hostname=d.hostname,
        kind="custom",
        app=Ref.of(d.app),
        cname=settings.app_host(d.app.name),
        status=ProofStatus(standing),
        moorage=shapes.DomainExtension(verification=verification),
        sni_endpoint=Ref.of(cert) if cert else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def view_default_domain(a: App, settings: Settings) -> shapes.Domain:
    """The app's own name under the platform's domain (Heroku's ``kind`` heroku)."""
    return shapes.Domain(
        id=f"{a.id}-default",
        hostname=settings.app_host(a.name),
        kind="heroku",
        app=Ref.of(a),
        cname=None,
        status=ProofStatus.SUCCEEDED,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )
