"""The edge's certificates: a platform CA made at setup and the certificate it issues.

:func:`ensure_edge_certs` is idempotent: the CA (``ca.crt``, ``ca.key``) is made once and
kept, so clients that trust it keep trusting the platform; the edge certificate
(``edge.crt``, ``edge.key``) names the domain, ``*.<domain>``, ``api.<domain>``,
``registry.<domain>`` and ``localhost``, and is issued again when the domain changes or it
has less than 30 days left. Keys are EC P-256, readable by root only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from moorage.errors import InvalidParams

CA_DAYS = 3650
EDGE_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class EdgeCerts:
    ca: Path
    cert: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    staged = path.with_name(path.name + ".new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(staged, path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    staged.chmod(0o644)
    os.replace(staged, path)


def _make_ca(root: Path, domain: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Moorage"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Moorage platform CA ({domain})"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(root / "ca.key", key)
    _write_cert(root / "ca.crt", cert)


def edge_names(domain: str) -> list[str]:
    return [domain, f"*.{domain}", f"api.{domain}", f"registry.{domain}", "localhost"]


def _needs_edge(path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return True
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = set(san.get_values_for_type(x509.DNSName))
    return have != set(names) or cert.not_valid_after_utc - _now() < RENEW_BEFORE


def _issue_edge(root: Path, names: list[str]) -> None:
    ca_key = serialization.load_pem_private_key((root / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((root / "ca.crt").read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidParams(f"{root / 'ca.key'} is not the EC key Moorage made.")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=EDGE_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(root / "edge.key", key)
    _write_cert(root / "edge.crt", cert)


def ensure_edge_certs(root: Path, domain: str) -> EdgeCerts:
    """The CA and the edge certificate under ``root``, made or renewed as needed."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # nginx workers read nothing here; the master reads as root
    if not (root / "ca.key").exists() or not (root / "ca.crt").exists():
        _make_ca(root, domain)
    names = edge_names(domain)
    if _needs_edge(root / "edge.crt", names):
        _issue_edge(root, names)
    return EdgeCerts(root / "ca.crt", root / "edge.crt", root / "edge.key")
