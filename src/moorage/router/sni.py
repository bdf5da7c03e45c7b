"""Custom certificates (Heroku's SNI endpoints): check a certificate and key pair, and say
which host names it covers.

:func:`inspect_pair` is pure: PEM text in, :class:`CertFacts` out, or an
:class:`~moorage.errors.InvalidParams` that says what is wrong with the files and what to
do. The chain is put in the order nginx needs (the key's certificate first); the key is
kept as unencrypted PKCS#8 PEM because nginx reads it at the TLS handshake.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from moorage.errors import InvalidParams

MAX_PEM_BYTES = 64 << 10
SYSTEM_ROOTS = Path("/etc/ssl/certs/ca-certificates.crt")
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class CertFacts:
    chain: str  # PEM, the key's certificate first
    key: str = field(repr=False)  # PEM, PKCS#8, not encrypted
    domains: tuple[str, ...]  # DNS names (subjectAltName, or the CN when there is none)
    subject: str
    issuer: str
    starts_at: dt.datetime
    expires_at: dt.datetime
    self_signed: bool
    ca_signed: bool  # the chain verifies against the given roots (the host's trust store)
    fingerprint: str  # SHA-256 of the key's certificate, hex


def _load_chain(chain_pem: str) -> list[x509.Certificate]:
    if len(chain_pem) > MAX_PEM_BYTES:
        raise InvalidParams(f"The certificate file is over {MAX_PEM_BYTES >> 10} KiB.")
    if "-----BEGIN CERTIFICATE-----" not in chain_pem:
        raise InvalidParams(
            "The certificate is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' "
            "line). Give the certificate chain file (.crt or .pem), not the key or a DER file; "
            "convert DER with `openssl x509 -inform der -in cert.der -out cert.pem`."
        )
    try:
        return x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError as exc:
        raise InvalidParams(f"The certificate chain could not be read: {exc}.") from None


def _load_key(
    key_pem: str,
) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    if len(key_pem) > MAX_PEM_BYTES:
        raise InvalidParams(f"The key file is over {MAX_PEM_BYTES >> 10} KiB.")
    if "PRIVATE KEY-----" not in key_pem:
        raise InvalidParams(
            "The private key is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' "
            "line). Give the key file the certificate was issued for."
        )
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise InvalidParams(
            "The private key is encrypted. Decrypt it first: "
            "`openssl pkey -in key.pem -out key.plain.pem`."
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidParams(f"The private key could not be read: {exc}.") from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise InvalidParams("Only RSA, ECDSA and Ed25519 keys are supported.")
    return key


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys(n.lower().rstrip(".") for n in names))


def _verifies(
    leaf: x509.Certificate,
    others: list[x509.Certificate],
    roots: list[x509.Certificate],
    now: dt.datetime,
) -> bool:
    if not roots:
        return False
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .time(now)
        .build_server_verifier(x509.DNSName(_names(leaf)[0].removeprefix("*.")))
    )
    try:
        verifier.verify(leaf, others)
    except (VerificationError, ValueError):
        return False
    return True


def load_roots(path: Path = SYSTEM_ROOTS) -> list[x509.Certificate]:
    """The trust store's certificates ([] when there is none)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    end = "-----END CERTIFICATE-----"
    roots = []
    with warnings.catch_warnings():  # a few old roots have negative serial numbers
        warnings.simplefilter("ignore")
        for block in text.split(end)[:-1]:
            try:
                roots.append(x509.load_pem_x509_certificate((block + end).encode()))
            except ValueError:
                continue  # one unreadable root does not make the others untrusted
    return roots


def inspect_pair(
    chain_pem: str,
    key_pem: str,
    roots: list[x509.Certificate] | None = None,
    now: dt.datetime | None = None,
) -> CertFacts:
    """The facts of a certificate chain and its private key, or a clear error; ``roots``
    decide whether it counts as CA-signed (trusted by clients)."""
    certs = _load_chain(chain_pem)
    key = _load_key(key_pem)
    mine = key.public_key().public_bytes(*_SPKI)
    leaf = next((c for c in certs if c.public_key().public_bytes(*_SPKI) == mine), None)
    if leaf is None:
        raise InvalidParams(
            "The private key does not belong to the certificate (their public keys differ). "
            "Give the key the certificate was issued for."
        )
    now = now or dt.datetime.now(dt.UTC)
    if leaf.not_valid_after_utc <= now:
        raise InvalidParams(
            f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}. Renew it and add "
            "the new one."
        )
    if leaf.not_valid_before_utc > now:
        raise InvalidParams(
            f"The certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC."
        )
    domains = _names(leaf)
    if not domains:
        raise InvalidParams("The certificate names no host (no subjectAltName DNS name or CN).")
    others = [c for c in certs if c is not leaf]
    ordered = [leaf, *others]
    return CertFacts(
        chain="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in ordered),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        domains=domains,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        starts_at=leaf.not_valid_before_utc,
        expires_at=leaf.not_valid_after_utc,
        self_signed=leaf.issuer == leaf.subject,
        ca_signed=_verifies(leaf, others, roots or [], now),
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
    )


def covers(names: tuple[str, ...] | list[str], hostname: str) -> bool:
    """Whether a certificate for ``names`` is valid for ``hostname`` (RFC 6125: a ``*``
    stands for exactly one whole left-most label)."""
    host = hostname.lower().rstrip(".")
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False
