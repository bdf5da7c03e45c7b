"""The dashboard in real headless Chromium against a live platform serving the actors app.

The browser reaches ``https://api.<domain>/dashboard`` through the HTTPS edge (Chromium
resolves ``*.localhost`` to loopback itself) and trusts the edge certificate by its SPKI
hash. Screenshots of every page land in ``artifacts/<run>/screenshots/``.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.browser.conftest import shot, shot_phone, spki_hash
from tests.faults import wrk_command
from tests.livefixtures import LivePlatform

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def browser_spki(platform: LivePlatform) -> list[str]:
    return [spki_hash(platform.data / "tls" / "edge.crt")]


def _base(platform: LivePlatform) -> str:
    return f"https://api.{platform.domain}:{platform.https_port}/dashboard"


def _until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _reload_until(driver: Chrome, text: str, timeout: float = 90) -> None:
    def seen() -> bool:
        driver.refresh()
        return text in driver.find_element(By.TAG_NAME, "main").text

    _until(seen, f"{text!r} on {driver.current_url}", timeout)


def _log_in(driver: Chrome, platform: LivePlatform) -> None:
    token = platform.moor("auth:token").stdout.strip()
    driver.get(f"{_base(platform)}/")
    assert driver.current_url.endswith("/dashboard/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "main form button").click()
    _until(lambda: driver.current_url.endswith("/dashboard/"), "the apps page")


def test_overview_scale_rollback_logs_and_metrics(
    platform: LivePlatform, actors: str, browser: Chrome, screenshots: Path
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    _log_in(browser, platform)
    assert actors in browser.find_element(By.ID, "apps").text
    shot(browser, screenshots, "apps")

    # overview: scale web from 1 to 2 and see two dynos; config values only when revealed
    browser.get(f"{_base(platform)}/apps/{actors}")
    database_url = platform.json("config", "-a", actors)["DATABASE_URL"]
    assert database_url not in browser.page_source
    quantity = browser.find_element(By.ID, "q-web")
    quantity.clear()
    quantity.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "#formation form.scale button").click()
    _until(lambda: "Scaled web to 2" in browser.page_source, "the scale message")
    _reload_until(browser, "web.2 up")
    dynos = browser.find_element(By.ID, "dynos").text
    assert "web.1 up" in dynos and "web.2 up" in dynos
    browser.find_element(By.CSS_SELECTOR, 'button.reveal[data-key="DATABASE_URL"]').click()
    secret = browser.find_element(By.CSS_SELECTOR, '.secret[data-key="DATABASE_URL"]')
    _until(lambda: secret.text == database_url, "the revealed DATABASE_URL")
    browser.find_element(By.CSS_SELECTOR, 'button.reveal[data-key="DATABASE_URL"]').click()
    shot(browser, screenshots, "overview")

    # activity: roll back to the release before a config change and see the new release
    platform.moor("config:set", "DASHBOARD_TEST=1", "-a", actors)
    before = platform.json("releases", "-a", actors)
    target = max(r["version"] for r in before if r["description"].startswith("Deploy"))
    browser.get(f"{_base(platform)}/apps/{actors}/activity")
    browser.find_element(By.XPATH, f"//button[normalize-space()='Roll back to v{target}']").click()
    _until(lambda: "Rolled back to" in browser.page_source, "the rollback message")
    newest = max(r["version"] for r in platform.json("releases", "-a", actors))
    assert newest == max(r["version"] for r in before) + 1
    _reload_until(browser, f"v{newest} current")
    assert f"Rollback to v{target}" in browser.find_element(By.ID, "releases").text
    assert "DASHBOARD_TEST" not in platform.json("config", "-a", actors)
    shot(browser, screenshots, "activity")

    # logs: a line the app writes appears live
    browser.get(f"{_base(platform)}/apps/{actors}/logs?source=app")
    log = browser.find_element(By.ID, "log")
    _until(lambda: browser.find_element(By.ID, "log-status").text == "live", "the stream")
    marker = f"/dashboard-{uuid.uuid4().hex[:8]}"

    def logged() -> bool:  # asked again while the rollback's dynos may still be swapping
        if marker not in log.text:
            try:
                platform.get(actors, marker)
            except httpx.HTTPError:
                return False
        return marker in log.text

    _until(logged, f"the app's log line for {marker}")
    shot(browser, screenshots, "logs")

    # metrics: a wrk burst through the router shows up in the charts
    browser.get(f"{_base(platform)}/apps/{actors}/metrics")

    def requests_charted() -> int | None:
        found = re.search(r"(\d+) requests in this window", browser.page_source)
        return int(found.group(1)) if found else None

    earlier = requests_charted()
    assert earlier is not None, "no request count on the metrics page"
    wanted = earlier + 20  # the burst shows, however slowly this host served it
    subprocess.run(wrk_command(platform, actors, 3), check=True, capture_output=True, timeout=60)

    def charted() -> bool:
        browser.refresh()
        now = requests_charted()
        return now is not None and now >= wanted

    _until(charted, "the burst in the metrics", timeout=40)
    chart = browser.find_element(By.CSS_SELECTOR, "figure svg.chart")
    assert int(chart.get_attribute("data-points") or 0) > 0
    shot(browser, screenshots, "metrics")
    shot_phone(browser, screenshots, "metrics")

    platform.moor("ps:scale", "web=1", "-a", actors)


def test_no_page_or_json_without_a_session_and_csrf_is_enforced(
    platform: LivePlatform, actors: str
) -> None:
    ca = str(platform.data / "tls" / "ca.crt")
    base = _base(platform)
    with httpx.Client(verify=ca, follow_redirects=False, timeout=10) as client:
        for path in ("/", f"/apps/{actors}", f"/apps/{actors}/metrics"):
            resp = client.get(base + path)
            assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
        assert client.get(f"{base}/apps/{actors}/config/DATABASE_URL").status_code == 401
        assert client.get(f"{base}/apps/{actors}/logs/stream").status_code == 401
        token = platform.moor("auth:token").stdout.strip()
        assert client.post(f"{base}/login", data={"token": token}).status_code == 303
        page = client.get(f"{base}/apps/{actors}").text
        url = platform.json("config", "-a", actors)["DATABASE_URL"]
        assert "DATABASE_URL" in page and url not in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = {"type": "web", "quantity": "3"}
        assert client.post(f"{base}/apps/{actors}/scale", data=form).status_code == 403
        forged = client.post(
            f"{base}/apps/{actors}/scale",
            data={**form, "csrf": csrf.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
    auth = {"Authorization": f"Bearer {token}"}
    web = httpx.get(f"{platform.api}/apps/{actors}/formation/web", headers=auth).json()
    assert web["quantity"] != 3


def test_prometheus_endpoints_need_a_token_and_show_the_app(
    platform: LivePlatform, actors: str
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    token = platform.moor("auth:token").stdout.strip()
    assert httpx.get(f"{platform.api}/metrics").status_code == 401
    stranger = platform.new_token("stranger@example.test")
    assert (
        httpx.get(
            f"{platform.api}/apps/{actors}/metrics",
            headers={"Authorization": f"Bearer {stranger}"},
        ).status_code
        == 404  # other users' apps answer like missing ones
    )

    def exposed() -> bool:
        text = httpx.get(
            f"{platform.api}/apps/{actors}/metrics", headers={"Authorization": f"Bearer {token}"}
        ).text
        return (
            f'moorage_router_requests_total{{app="{actors}",status="2xx"}}' in text
            and f'moorage_dyno_memory_bytes{{app="{actors}",dyno="web.1"}}' in text
        )

    _until(exposed, "the app's series in /metrics", timeout=30)
