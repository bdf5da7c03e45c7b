"""Custom certificates: what inspect_pair accepts, what it refuses and why."""

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from moorage.errors import InvalidParams
from moorage.router.sni import covers, inspect_pair
from tests import certgen
from tests.certgen import key_pem as _key_pem
from tests.certgen import pem as _pem

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def _cert(*args: Any, **kwargs: Any) -> x509.Certificate:
    return certgen.cert(*args, now=NOW, **kwargs)


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _cert("Test Root", key, ca=True, days=3650), key


def test_a_chain_in_any_order_is_put_leaf_first_and_described(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    root, root_key = ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert("www.shop.test", key, ("Test Root", root_key), sans=("www.shop.test", "shop.test"))
    facts = inspect_pair(_pem(root, leaf), _key_pem(key), roots=[root], now=NOW)
    assert facts.chain == _pem(leaf, root)
    assert facts.domains == ("www.shop.test", "shop.test")
    assert facts.subject == "CN=www.shop.test" and facts.issuer == "CN=Test Root"
    assert facts.ca_signed and not facts.self_signed
    assert facts.key.startswith("-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE" not in repr(facts)
    assert not inspect_pair(_pem(leaf), _key_pem(key), roots=[], now=NOW).ca_signed


def test_a_self_signed_certificate_without_san_uses_its_cn() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    facts = inspect_pair(_pem(_cert("api.shop.test", key)), _key_pem(key), now=NOW)
    assert facts.domains == ("api.shop.test",)
    assert facts.self_signed and not facts.ca_signed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong key", "does not belong to the certificate"),
        ("expired", "expired on 2026-11-16"),
        ("not yet valid", "not valid before"),
        ("key given as certificate", "not a PEM certificate"),
        ("certificate given as key", "not a PEM private key"),
        ("encrypted key", "is encrypted"),
        ("garbage", "could not be read"),
    ],
)
def test_bad_pairs_are_refused_with_what_to_do(case: str, message: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    good = _pem(_cert("a.test", key))
    chain, key_pem = good, _key_pem(key)
    if case == "wrong key":
        key_pem = _key_pem(ec.generate_private_key(ec.SECP256R1()))
    elif case == "expired":
        chain = _pem(_cert("a.test", key, start=NOW - dt.timedelta(days=100)))
    elif case == "not yet valid":
        chain = _pem(_cert("a.test", key, start=NOW + dt.timedelta(days=2)))
    elif case == "key given as certificate":
        chain = key_pem
    elif case == "certificate given as key":
        key_pem = good
    elif case == "encrypted key":
        key_pem = _key_pem(key, b"secret")
    elif case == "garbage":
        chain = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidParams) as err:
        inspect_pair(chain, key_pem, now=NOW)
    assert message in err.value.message


def test_wildcards_cover_exactly_one_label() -> None:
    names = ("*.shop.test", "shop.test")
    assert covers(names, "www.shop.test") and covers(names, "SHOP.test.")
    assert not covers(names, "a.b.shop.test") and not covers(names, "othershop.test")
    assert covers(("*.shop.test",), "*.shop.test")
