"""The unmodified Heroku CLI's pipelines commands against the platform (issue 22)."""

from __future__ import annotations

import json

import pytest

from tests.compat.conftest import HerokuCli
from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration


def _current(platform: LivePlatform, app: str) -> dict[str, object]:
    rows = platform.json("releases", "-a", app)
    return next(r for r in rows if r["current"])


def test_heroku_pipelines_create_add_info_and_promote(
    heroku: HerokuCli, platform: LivePlatform, standin: StandIn
) -> None:
    staging, production = platform.create_app("hkp-stg"), platform.create_app("hkp-prd")
    image = f"{standin.host}/hkpipe:1"
    standin.publish(image, greeting="unset")
    platform.moor("config:set", "GREETING=staging-config", "-a", staging)
    platform.moor("config:set", "GREETING=production-config", "-a", production)
    platform.moor("container:release", "web", "--image", image, "-a", staging)

    name = f"hkp-{staging[-6:]}"
    heroku("pipelines:create", name, "-a", staging, "--stage", "staging")
    heroku("pipelines:add", name, "-a", production, "--stage", "production")
    shown = heroku("pipelines:info", name).stdout
    assert staging in shown and production in shown and "production" in shown, shown
    listed = json.loads(heroku("pipelines:info", name, "--json").stdout)
    stages = {a["name"]: a["pipelineCoupling"]["stage"] for a in listed["apps"]}
    assert stages == {staging: "staging", production: "production"}, listed

    promoted = heroku("pipelines:promote", "-a", staging)
    assert "Promotion successful" in promoted.stdout, promoted.stdout
    assert production in promoted.stdout and "succeeded" in promoted.stdout
    platform.wait_for(production, "production-config", timeout=60)
    source, target = _current(platform, staging), _current(platform, production)
    assert target["description"] == f"Promote {staging} v{source['version']}"
    digests = [
        {t: str(r).rsplit("@", 1)[1] for t, r in rel["images"].items()}  # type: ignore[attr-defined]
        for rel in (source, target)
    ]
    assert digests[0] == digests[1]
    heroku("pipelines:destroy", name)
