"""Custom certificates on the real edge: nginx presents an app's own certificate for its
custom domains (SNI), swaps it on renewal without a reload, and falls back to the
platform's when it is removed; the ACME webroot answers HTTP-01 challenges."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests import certgen
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration

HOST = "www.actors-shop.test"


def _served(platform: LivePlatform, host: str) -> str:
    """SHA-256 of the certificate the edge presents for ``host`` (SNI)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", platform.https_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def _until_served(platform: LivePlatform, host: str, fingerprint: str) -> None:
    """The edge presents ``fingerprint`` for ``host`` (certificate changes reach nginx at the
    reconciler's next pass, after the API has answered)."""
    deadline = time.monotonic() + 30
    while (served := _served(platform, host)) != fingerprint:
        assert time.monotonic() < deadline, f"{host} still served {served}"
        time.sleep(0.2)


def _get(platform: LivePlatform, host: str, ca: Path) -> httpx.Response:
    """GET / from ``host`` at the edge, verifying its certificate with ``ca`` only."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as c:
        return c.get(
            f"https://127.0.0.1:{platform.https_port}/",
            extensions={"sni_hostname": host},
            headers={"Host": host},
        )


def _issue(tmp: Path, name: str, ca_key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certgen.cert(HOST, key, ("Shop Test CA", ca_key), sans=(HOST, "actors-shop.test"))
    crt, pem_key = tmp / f"{name}.crt", tmp / f"{name}.key"
    crt.write_text(certgen.pem(leaf))
    pem_key.write_text(certgen.key_pem(key))
    fingerprint = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    return crt, pem_key, fingerprint


def _nginx_master(platform: LivePlatform) -> int:
    return int((platform.data / "router" / "nginx.pid").read_text())


def test_custom_certificate_is_served_renewed_and_removed(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certgen.cert("Shop Test CA", ca_key, ca=True, days=30)
    ca = tmp_path / "shop-ca.crt"
    ca.write_text(certgen.pem(ca_cert))
    crt, key, first = _issue(tmp_path, "first", ca_key)
    edge = _served(platform, HOST)

    platform.moor("domains:add", HOST, "-a", actors)
    added = platform.moor("certs:add", str(crt), str(key), "-a", actors).stdout
    assert f"Serving it for {HOST}." in added
    _until_served(platform, HOST, first)
    master = _nginx_master(platform)
    resp = _get(platform, HOST, ca)
    assert resp.status_code == 200 and "Meryl Streep" in resp.text
    (cert,) = platform.json("certs", "-a", actors)
    domains = {d["hostname"]: d for d in platform.json("domains", "-a", actors)}
    assert domains[HOST]["sni_endpoint"]["name"] == cert["name"]
    assert cert["ssl_cert"]["cert_domains"] == [HOST, "actors-shop.test"]
    assert "private_key" not in cert

    # a renewal is served at once, by the same nginx master (no reload)
    crt2, key2, second = _issue(tmp_path, "second", ca_key)
    platform.moor("certs:update", str(crt2), str(key2), "-a", actors)
    _until_served(platform, HOST, second)
    assert _nginx_master(platform) == master

    platform.moor("certs:remove", "-a", actors, "--confirm", actors)
    _until_served(platform, HOST, edge)
    assert platform.json("certs", "-a", actors) == []
    platform.moor("domains:remove", HOST, "-a", actors)


def test_a_bad_pair_is_refused_and_changes_nothing(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    crt, _, _ = _issue(tmp_path, "one", ca_key)
    _, other_key, _ = _issue(tmp_path, "two", ca_key)
    bad = platform.moor("certs:add", str(crt), str(other_key), "-a", actors, check=False)
    assert bad.returncode != 0
    assert "does not belong to the certificate" in bad.stderr and "Traceback" not in bad.stderr
    swapped = platform.moor("certs:add", str(other_key), str(crt), "-a", actors, check=False)
    assert "not a PEM certificate" in swapped.stderr
    assert "PRIVATE KEY" not in bad.stderr + swapped.stderr
    assert platform.json("certs", "-a", actors) == []


def test_the_acme_webroot_answers_challenges_and_other_paths_reach_the_app(
    platform: LivePlatform, actors: str
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    webroot = platform.data / "router" / "acme" / ".well-known" / "acme-challenge"
    token = webroot / "tok-123"
    token.write_text("tok-123.thumbprint")
    try:
        resp = platform.get(actors, "/.well-known/acme-challenge/tok-123")
        assert resp.status_code == 200 and resp.text == "tok-123.thumbprint"
        missing = platform.get(actors, "/.well-known/acme-challenge/unknown")
        assert missing.status_code == 404  # answered by the app, which has no such page
        assert "requested URL was not found on the server" in missing.text  # Flask's page
    finally:
        token.unlink()


def test_platform_ca_does_not_verify_a_host_without_a_custom_certificate(
    platform: LivePlatform, actors: str
) -> None:
    """A custom domain without a certificate gets the edge certificate, which does not
    name it: clients refuse it rather than trust the wrong host."""
    platform.moor("domains:add", "bare.actors-shop.test", "-a", actors)
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(platform, "bare.actors-shop.test", platform.data / "tls" / "ca.crt")
    finally:
        platform.moor("domains:remove", "bare.actors-shop.test", "-a", actors)


def test_the_certificate_keys_are_root_s_alone(platform: LivePlatform) -> None:
    router = platform.data / "router"
    assert (router / "routes").stat().st_mode & 0o077 == 0
    assert (router / "private").stat().st_mode & 0o077 == 0
