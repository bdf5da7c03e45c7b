"""Our answers validate against the Heroku Platform API schema for what clients read.

The schema is ../shared/reference/heroku-platform-api.schema.json, copied into
tests/fixtures so a clean clone has it. Formats (uuid, date-time) are not checked:
Moorage ids are uuid4 strings and times are ISO 8601, both as the schema's examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jsonschema import Draft4Validator
from jsonschema.validators import RefResolver

from moorage.server.platform import Platform
from tests import certgen
from tests.unit.conftest import make_token

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "heroku-platform-api.schema.json").read_text()
)


# Where Moorage differs from Heroku on purpose, by (definition, field): nothing else may.
DEVIATIONS = {
    ("app", "web_url"): "the platform's own domain, not herokuapp.com",
    ("app", "git_url"): "null: container apps only, there is no git push",
}


def _check(definition: str, instance: Any) -> None:
    resolver = RefResolver.from_schema(SCHEMA)
    validator = Draft4Validator({"$ref": f"#/definitions/{definition}"}, resolver=resolver)
    errors = [
        e
        for e in validator.iter_errors(instance)
        if (definition, ".".join(str(p) for p in e.path)) not in DEVIATIONS
    ]
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.fixture
def app(api: TestClient) -> str:
    assert api.post("/apps", json={"name": "schema-app"}).status_code == 201
    return "schema-app"


def test_account_and_authorizations(api: TestClient) -> None:
    _check("account", api.get("/account").json())
    for auth in api.get("/oauth/authorizations").json():
        _check("oauth-authorization", auth)


def test_app_config_formation_release(api: TestClient, app: str) -> None:
    _check("app", api.get(f"/apps/{app}").json())
    for listed in api.get("/users/~/apps").json():
        _check("app", listed)
    _check("config-var", api.patch(f"/apps/{app}/config-vars", json={"A": "1"}).json())
    releases = api.get(f"/apps/{app}/releases").json()
    assert releases
    for release in releases:
        _check("release", release)
    api.patch(f"/apps/{app}/formation", json={"updates": [{"type": "web", "command": "x"}]})
    for formation in api.get(f"/apps/{app}/formation").json():
        _check("formation", formation)


def test_domains_and_collaborators(api: TestClient, app: str, platform: Platform) -> None:
    added = api.post(f"/apps/{app}/domains", json={"hostname": "www.schema.test"})
    assert added.status_code == 201
    _check("domain", added.json())
    for domain in api.get(f"/apps/{app}/domains").json():
        _check("domain", domain)
    make_token(platform, "bob@example.test")  # collaborators must have an account
    collab = api.post(f"/apps/{app}/collaborators", json={"user": "bob@example.test"})
    assert collab.status_code == 201
    _check("collaborator", collab.json())
    for row in api.get(f"/apps/{app}/collaborators").json():
        _check("collaborator", row)


def test_sni_endpoints_and_the_domains_that_use_them(api: TestClient, app: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    chain = certgen.pem(certgen.cert("www.schema.test", key, sans=("www.schema.test",)))
    assert api.post(f"/apps/{app}/domains", json={"hostname": "www.schema.test"}).is_success
    created = api.post(
        f"/apps/{app}/sni-endpoints",
        json={"certificate_chain": chain, "private_key": certgen.key_pem(key)},
    )
    assert created.status_code == 201
    _check("sni-endpoint", created.json())
    name = created.json()["name"]
    _check("sni-endpoint", api.get(f"/apps/{app}/sni-endpoints/{name}").json())
    domain = api.get(f"/apps/{app}/domains/www.schema.test").json()
    _check("domain", domain)
    assert domain["sni_endpoint"]["name"] == name
    assert created.json()["domains"] == [domain["id"]]
    unset = api.patch(f"/apps/{app}/domains/{domain['id']}", json={"sni_endpoint": None})
    assert unset.json()["sni_endpoint"] is None
    reset = api.patch(f"/apps/{app}/domains/www.schema.test", json={"sni_endpoint": name})
    assert reset.json()["sni_endpoint"]["name"] == name
    assert api.delete(f"/apps/{app}/sni-endpoints/{name}").is_success
    assert api.get(f"/apps/{app}/domains/www.schema.test").json()["sni_endpoint"] is None
    wrong = api.post(
        f"/apps/{app}/sni-endpoints",
        json={
            "certificate_chain": chain,
            "private_key": certgen.key_pem(ec.generate_private_key(ec.SECP256R1())),
        },
    )
    assert wrong.status_code == 422 and wrong.json()["id"] == "invalid_params"
    assert api.get(f"/apps/{app}/sni-endpoints").json() == []
