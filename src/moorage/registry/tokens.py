"""Docker Distribution token auth: the signing key, its libtrust key id, and JWT issuance.

Distribution verifies a token's ``kid`` header against the libtrust key ids of the
certificates in its ``rootcertbundle``; :func:`libtrust_key_id` computes that id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ISSUER = "moorage"
SERVICE = "moorage-registry"
TOKEN_TTL = 300  # tokens the platform issues itself (pulls by the runtime)
# tokens for users' API tokens: Docker keeps a token at least 60 s whatever it is told, and
# Distribution accepts one 60 s past its expiry (clock-skew leeway), so 15 s lets a revoked
# API token push or pull for at most 75 s more, while Docker never holds an invalid one
USER_TOKEN_TTL = 15


@dataclass(frozen=True)
class Access:
    """One granted scope: ``{"type": "repository", "name": "app/web", "actions": [...]}``."""

    type: str
    name: str
    actions: tuple[str, ...]


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The libtrust fingerprint: base32 of the first 240 bits of SHA-256(DER), in 4-char groups."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()[:30]
    b32 = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def ensure_signing_key(key_path: Path, cert_path: Path) -> None:
    """Create an EC P-256 key and a self-signed certificate once; keep existing ones."""
    if key_path.exists() and cert_path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorage registry token signer")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class TokenIssuer:
    """Signs registry bearer tokens with the platform's key."""

    def __init__(self, key_path: Path) -> None:
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC private key")
        self._key = loaded
        self._kid = libtrust_key_id(loaded.public_key())

    def issue(self, subject: str, access: list[Access], ttl: int = TOKEN_TTL) -> str:
        """A token for ``access``, good for ``ttl`` seconds (Docker asks again when it
        has expired; the registry itself cannot learn that an API token was revoked)."""
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "iat": now,
            "nbf": now - 10,
            "exp": now + ttl,
            "jti": secrets.token_hex(16),
            "access": [
                {"type": a.type, "name": a.name, "actions": list(a.actions)} for a in access
            ],
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self._kid})


def parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``repository:app/web:push,pull`` -> ("repository", "app/web", ("push", "pull"))."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    kind, actions = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    return kind, name, tuple(a for a in actions.split(",") if a)
