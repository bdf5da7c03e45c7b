"""k8s:import on the real platform: the actors spec and chart, and the shop microservices."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.livefixtures import ACTORS, LivePlatform, in_pty
from tests.standin import StandIn

pytestmark = pytest.mark.integration

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
SHOP_APPS = ("catalog", "storefront", "worker", "redis")


def test_actors_runs_after_import_of_the_articles_image_without_a_push(
    platform: LivePlatform, standin: StandIn
) -> None:
    """What the article's team did (``docker build -t myorg/myapp:0.0.1`` and a push to
    Docker Hub, here its stand-in), then the move: k8s:import alone serves the app."""
    standin.build("myorg/myapp:0.0.1", ACTORS)
    app = f"k8s-actors-{time.time_ns() % 100000}"
    platform.apps.add(app)
    imported = platform.moor("k8s:import", "spec", "chart", "-a", app, cwd=ACTORS)
    assert "release web from docker.io/myorg/myapp:0.0.1" in imported.stdout
    assert "container:push" not in imported.stdout
    again = platform.moor("k8s:import", "spec", "chart", "-a", app, cwd=ACTORS)
    assert "Nothing to change" in again.stdout
    page = platform.wait_for(app, "Meryl Streep", timeout=120)
    assert "Hello from Kubernetes" in page.text  # GREETING from the ConfigMap
    addons = platform.json("addons", "-a", app)
    assert [a["addon_service"]["name"] for a in addons] == ["postgresql"]
    domains = [d["hostname"] for d in platform.json("domains", "-a", app)]
    assert "myapp.example.com" in domains  # from the Ingress
    by_domain = httpx.get(
        f"http://127.0.0.1:{platform.router_port}/",
        headers={"Host": "myapp.example.com"},
        timeout=10,
    )
    assert by_domain.status_code == 200 and "Meryl Streep" in by_domain.text


def _post_order(platform: LivePlatform) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{platform.router_port}/orders",
        headers={"Host": f"storefront.{platform.domain}"},
        json={"sku": "TEA-EARL", "qty": 2},
        timeout=10,
    )


def test_shop_runs_after_import_with_services_on_the_private_network(
    platform: LivePlatform, standin: StandIn
) -> None:
    """The shop's three images are in its registry (registry.example.com, stood in for
    through the mirror setting); k8s:import releases them, no container:push."""
    for app in ("catalog", "storefront", "worker"):
        standin.build(f"registry.example.com/shop/{app}:1.0.0", SHOP / app)
    standin.redis("redis:7")  # kept as it was: the apps reach it by host and port alone
    try:
        out = platform.moor("k8s:import", str(SHOP / "k8s")).stdout
        assert "group shop" in out
        assert "set the release phase: python migrate.py" in out  # from the Job catalog-migrate
        assert "release web from registry.example.com/shop/catalog:1.0.0" in out
        # only the release phase creates the products table; the CLI shows its output
        assert "products table ready (5 products added)" in out
        # storefront lists the products it fetched from catalog at http://catalog:8080
        platform.wait_for("storefront", "Earl Grey tea", timeout=180)
        assert _post_order(platform).status_code in (201, 202)
        # catalog had a ClusterIP Service only: private, off the router, reached in the group
        assert platform.get("catalog", "/orders/count").status_code == 404
        count_url = "http://catalog:8080/orders/count"
        read = (
            f"import urllib.request; print(urllib.request.urlopen({count_url!r}).read().decode())"
        )
        deadline = time.monotonic() + 60
        count = -1
        while time.monotonic() < deadline:
            code, said = in_pty(
                platform, "ps:exec", "-a", "storefront", "--", "python3", "-c", read
            )
            found = re.search(r'"count":\s*(\d+)', said)
            if code == 0 and found and int(found[1]) >= 1:
                count = int(found[1])
                break
            time.sleep(1)
        assert count >= 1, "the worker never stored the order"
        again = platform.moor("k8s:import", str(SHOP / "k8s"))
        assert "Nothing to change" in again.stdout
    finally:  # the names (and the group shop) are free for the corpus and group tests
        for app in SHOP_APPS:
            platform.moor("apps:destroy", "-a", app, "--confirm", app, check=False)


CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"  # ../shared/corpus/k8s, copied


@pytest.mark.parametrize(
    ("source", "addons"),
    [
        ("kubernetes-examples-guestbook", ["create private app redis-master"]),
        ("example-voting-app", ["create private app db-app"]),
        ("azure-voting-app-redis", ["create private app azure-vote-back"]),
        ("microservices-demo/kubernetes-manifests.yaml", ["create private app redis-cart"]),
        ("microservices-demo/helm-chart", ["create private app redis-cart"]),
    ],
)
def test_every_corpus_app_imports_in_a_dry_run(
    platform: LivePlatform, source: str, addons: list[str]
) -> None:
    """A dry run: the plan, with add-ons for the databases apps name in their env, and the
    others kept as private processes (their images have the host built in)."""
    proc = platform.moor("k8s:import", str(CORPUS / source), "--dry-run")
    assert "Dry run: nothing was changed." in proc.stdout
    for step in addons:
        assert step in proc.stdout, proc.stdout
    if source.startswith("microservices-demo"):  # one group, only the frontend public
        assert "create app frontend" in proc.stdout and "put frontend in group" in proc.stdout
        assert "create app " not in proc.stdout.replace("create app frontend", "")
    assert "Traceback" not in proc.stderr


def test_an_import_does_not_change_an_app_it_did_not_make(platform: LivePlatform) -> None:
    """Issue 18 item 7: manifests whose app name is taken by an app made otherwise."""
    app = platform.create_app("taken")
    refused = platform.moor("k8s:import", "spec", "-a", app, cwd=ACTORS, check=False)
    assert refused.returncode != 0
    assert "this import did not make them" in refused.stderr and "--adopt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert platform.json("config", "-a", app) == {}  # nothing was changed
    beside = platform.moor(
        "k8s:import", "spec", "-a", app, "--prefix", "new", "--dry-run", cwd=ACTORS
    )
    assert f"create app new-{app}" in beside.stdout
