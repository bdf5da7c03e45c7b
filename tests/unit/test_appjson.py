"""app.json as the template of review apps."""

from __future__ import annotations

import json

import pytest

from moorage.errors import InvalidParams
from moorage.spec.appjson import EnvVar, parse_template, resolve_env

APP_JSON = {
    "name": "Actors",
    "env": {
        "GREETING": "hello",
        "SECRET_KEY": {"generator": "secret"},
        "STRIPE_KEY": {"description": "test key", "required": True},
        "OPTIONAL": {"required": False},
        "DEBUG": False,
    },
    "addons": ["heroku-postgresql", {"plan": "heroku-redis", "as": "CACHE"}],
    "scripts": {"postdeploy": "python seed.py", "pr-predestroy": "echo bye"},
    "formation": {"web": {"quantity": 1, "size": "basic"}, "worker": {"quantity": 0}},
    "environments": {"review": {"env": {"GREETING": "hi review"}, "addons": ["heroku-postgresql"]}},
}


def test_the_review_environment_overrides_the_template() -> None:
    t = parse_template(json.dumps(APP_JSON))
    assert t.env["GREETING"] == EnvVar(value="hi review")
    assert t.env["DEBUG"].value == "false" and t.env["SECRET_KEY"].generator == "secret"
    assert t.addons == [("heroku-postgresql", "")]  # the review list replaces the base one
    assert (t.postdeploy, t.predestroy) == ("python seed.py", "echo bye")
    assert t.formation == {"web": 1, "worker": 0}
    plain = parse_template(json.dumps(APP_JSON), environment="test")
    assert plain.addons == [("heroku-postgresql", ""), ("heroku-redis", "CACHE")]
    assert plain.env["GREETING"].value == "hello"


def test_config_of_a_new_app_generates_secrets_and_names_what_is_missing() -> None:
    t = parse_template(json.dumps(APP_JSON))
    config, missing = resolve_env(t, {"STRIPE_KEY": "sk_test"})
    assert config["STRIPE_KEY"] == "sk_test" and config["GREETING"] == "hi review"
    assert len(config["SECRET_KEY"]) == 64 and "OPTIONAL" not in config and missing == []
    other, _ = resolve_env(t, {"STRIPE_KEY": "sk_test"})
    assert other["SECRET_KEY"] != config["SECRET_KEY"]  # one secret per app
    assert resolve_env(t, {})[1] == ["STRIPE_KEY"]
    assert parse_template("") == parse_template("{}")


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ("[]", "must be a JSON object"),
        ('{"env": {"K": {"generator": "uuid"}}}', "the only generator is `secret`"),
        ('{"env": {"1K": "x"}}', "1K"),
        ('{"addons": [{"as": "DB"}]}', "each add-on"),
        ('{"scripts": {"postdeploy": 3}}', "scripts.postdeploy"),
        ('{"formation": {"web": {"quantity": -1}}}', "formation.web"),
        ("{nope", "not valid JSON"),
    ],
)
def test_a_malformed_template_is_a_clear_error(doc: str, says: str) -> None:
    with pytest.raises(InvalidParams, match=says):
        parse_template(doc)
