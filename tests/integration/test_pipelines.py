"""Pipelines and promotion (issue 22): staging's release goes to production without a build.

The apps run the stand-in registry's tiny web app, which answers with ``$GREETING``: the same
image shows each app's own config.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration


def _digests(release: dict[str, object]) -> dict[str, str]:
    images = release["images"]
    assert isinstance(images, dict)
    return {t: str(ref).rsplit("@", 1)[1] for t, ref in images.items()}


def _current(platform: LivePlatform, app: str) -> dict[str, object]:
    rows = platform.json("releases", "-a", app)
    return next(r for r in rows if r["current"])


def _logged(platform: LivePlatform, app: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lines = platform.moor("logs", "-a", app, "-n", "300").stdout
        if text in lines:
            return
        assert time.monotonic() < deadline, f"{text!r} never reached {app}'s log:\n{lines}"
        time.sleep(1)


def test_staging_promotes_to_production_with_productions_config(
    platform: LivePlatform, standin: StandIn, tmp_path: Path
) -> None:
    staging, production = platform.create_app("pl-stg"), platform.create_app("pl-prd")
    image = f"{standin.host}/pipe:1"
    standin.publish(image, greeting="unset")
    platform.moor("config:set", "GREETING=from-staging", "-a", staging)
    platform.moor("config:set", "GREETING=from-production", "-a", production)
    (tmp_path / "heroku.yml").write_text(
        'release:\n  command: ["sh", "-c", "echo migrating with $GREETING"]\n'
    )
    platform.moor("container:release", "web", "--image", image, "-a", staging, "--dir",
                  str(tmp_path))  # fmt: skip
    platform.wait_for(staging, "from-staging", timeout=120)
    _logged(platform, staging, "migrating with from-staging")

    name = f"pl-{staging[-6:]}"
    platform.moor("pipelines:create", name, "-a", staging, "--stage", "staging")
    platform.moor("pipelines:add", name, "-a", production, "--stage", "production")
    info = platform.json("pipelines:info", name)
    assert [(c["app"]["name"], c["stage"]) for c in info["couplings"]] == [
        (staging, "staging"),
        (production, "production"),
    ]
    assert name in platform.moor("pipelines").stdout

    promoted = platform.moor("pipelines:promote", "-a", staging)
    assert production in promoted.stdout and "succeeded" in promoted.stdout, promoted.stdout
    platform.wait_for(production, "from-production", timeout=60)
    source, target = _current(platform, staging), _current(platform, production)
    assert target["description"] == f"Promote {staging} v{source['version']}", target
    assert _digests(target) == _digests(source)
    assert f"/{production}/web@" in str(target["images"]), target  # its own copy
    assert target["release_command"] == source["release_command"] is not None
    _logged(platform, production, "migrating with from-production")  # the phase, its config
    _logged(platform, staging, f"Promoted v{source['version']} to {production} by user")
    assert platform.get(staging).text.startswith("from-staging")

    # a target whose process types differ is refused, naming them; nothing changes there
    odd = platform.create_app("pl-odd")
    platform.moor("container:release", "--image", f"web={image}", "--image",
                  f"worker={image}", "-a", odd)  # fmt: skip
    platform.moor("pipelines:add", name, "-a", odd, "--stage", "production")
    before = _current(platform, odd)["version"]
    refused = platform.moor("pipelines:promote", "-a", staging, "--to", odd, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{odd} runs worker" in refused.stderr, refused.stderr
    assert _current(platform, odd)["version"] == before

    # a stranger neither sees the pipeline nor promotes through it
    stranger = platform.new_token("pl-stranger@example.test")
    hidden = platform.moor("pipelines:info", name, token=stranger, check=False)
    assert hidden.returncode != 0 and "Couldn't find that pipeline" in hidden.stderr
    assert name not in platform.moor("pipelines", token=stranger).stdout
    denied = platform.moor("pipelines:promote", "-a", staging, token=stranger, check=False)
    assert denied.returncode != 0 and "Couldn't find that app" in denied.stderr

    platform.moor("pipelines:remove", "-a", odd)
    platform.moor("pipelines:destroy", name)
    assert name not in platform.moor("pipelines").stdout
