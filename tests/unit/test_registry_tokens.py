from pathlib import Path

import jwt
from cryptography import x509

from moorage.registry.tokens import (
    SERVICE,
    Access,
    TokenIssuer,
    ensure_signing_key,
    libtrust_key_id,
    parse_scope,
)


def test_scope_parsing() -> None:
    assert parse_scope("repository:actors/web:push,pull") == (
        "repository",
        "actors/web",
        ("push", "pull"),
    )
    assert parse_scope("nonsense") is None


def test_token_carries_libtrust_kid_of_the_bundle_cert(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    ensure_signing_key(key, cert)
    token = TokenIssuer(key).issue("me", [Access("repository", "a/web", ("pull",))])
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    header = jwt.get_unverified_header(token)
    kid = libtrust_key_id(public)  # type: ignore[arg-type]
    assert header["kid"] == kid
    assert len(kid.split(":")) == 12 and all(len(p) == 4 for p in kid.split(":"))
    claims = jwt.decode(token, public, algorithms=["ES256"], audience=SERVICE)  # type: ignore[arg-type]
    assert claims["access"] == [{"type": "repository", "name": "a/web", "actions": ["pull"]}]


def test_signing_key_is_private_and_kept(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    ensure_signing_key(key, cert)
    first = key.read_bytes()
    ensure_signing_key(key, cert)
    assert key.read_bytes() == first
    assert key.stat().st_mode & 0o777 == 0o600
