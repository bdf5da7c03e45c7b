"""Browser tests in real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Nothing is ever downloaded: the driver and the browser are given by path, so Selenium
Manager is never consulted, and ``SE_OFFLINE=true`` forbids it to go online anyway.

A test module (or class) trusts a self-signed/test certificate by overriding the
``browser_spki`` fixture to return the SPKI hashes of its certificates (see ``spki_hash``).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO_ROOT = Path(__file__).resolve().parents[2]
DESKTOP = (1280, 900)
PHONE = (390, 844)


@dataclass(frozen=True)
class ChromeBinaries:
    chromium: Path
    chromedriver: Path


@pytest.fixture(scope="session")
def chrome_binaries() -> ChromeBinaries:
    """The system's Chromium and chromedriver; fails the test when they are not installed."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run ./bin/test, it installs chromium and "
            "chromium-driver",
            pytrace=False,
        )
    return ChromeBinaries(chromium=CHROMIUM, chromedriver=CHROMEDRIVER)


def spki_hash(cert_pem_path: str | os.PathLike[str]) -> str:
    """Base64 SHA-256 of the certificate's SubjectPublicKeyInfo (RFC 7469 pin format)."""
    cert = x509.load_pem_x509_certificate(Path(cert_pem_path).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode("ascii")


def chrome_options(spki_hashes: Sequence[str] = (), *, binary: Path = CHROMIUM) -> Options:
    """Headless Chromium options; certificates whose SPKI hash is listed are trusted."""
    options = Options()
    options.binary_location = str(binary)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # Chromium's sandbox refuses to run as root (and in most containers)
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-US",
        "--hide-scrollbars",  # full-page shots keep the whole 1280 (390) width
    ):
        options.add_argument(arg)
    if spki_hashes:
        # honoured only with a --user-data-dir, which chromedriver always passes
        options.add_argument(f"--ignore-certificate-errors-spki-list={','.join(spki_hashes)}")
    return options


@pytest.fixture
def browser_spki() -> list[str]:
    """SPKI hashes the ``browser`` trusts; override in a test module or class."""
    return []


@pytest.fixture
def browser(
    chrome_binaries: ChromeBinaries, browser_spki: list[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium at 1280x900, quit (with its processes) after the test."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    service = Service(executable_path=str(chrome_binaries.chromedriver))
    # webdriver.Chrome stops the service itself when the session fails to start
    driver = webdriver.Chrome(
        service=service, options=chrome_options(browser_spki, binary=chrome_binaries.chromium)
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``artifacts/<YYYYmmdd-HHMMSS>-<pid>/screenshots/``, one per test session."""
    directory = (
        REPO_ROOT / "artifacts" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}" / "screenshots"
    )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _full_page_png(driver: webdriver.Chrome) -> bytes:
    """The whole document (not just the viewport) at the current viewport width."""
    metrics: dict[str, Any] = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    viewport = metrics["cssLayoutViewport"]
    content = metrics["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": max(viewport["clientWidth"], content["width"]),
        "height": max(viewport["clientHeight"], content["height"]),
        "scale": 1,
    }
    shot: dict[str, Any] = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])


def shot(driver: webdriver.Chrome, directory: Path, name: str) -> Path:
    """Save a full-page screenshot at desktop width (1280) as ``<name>.png``; its path."""
    size = driver.get_window_size()
    if (size["width"], size["height"]) != DESKTOP:
        driver.set_window_size(*DESKTOP)
    path = directory / f"{name}.png"
    path.write_bytes(_full_page_png(driver))
    return path


def shot_phone(driver: webdriver.Chrome, directory: Path, name: str) -> Path:
    """Save a full-page screenshot at phone width (390x844) as ``<name>-phone.png``."""
    driver.set_window_size(*PHONE)
    try:
        path = directory / f"{name}-phone.png"
        path.write_bytes(_full_page_png(driver))
    finally:
        driver.set_window_size(*DESKTOP)
    return path
