"""The browser harness itself: JavaScript runs, screenshots are written, test CAs are trusted."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.conftest import shot, shot_phone, spki_hash

pytestmark = pytest.mark.browser

SERVED_TITLE = "Moorage harness over TLS"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_javascript_runs_and_screenshots(browser: webdriver.Chrome, screenshots: Path) -> None:
    html = (
        "<!doctype html><html><head><title>Harness</title>"
        "<style>body{font-family:sans-serif;background:#f4f1ea}h1{color:#1d4e89}</style>"
        "</head><body><h1>Moorage browser harness</h1><p id='out'>not yet</p>"
        "<script>document.getElementById('out').textContent = 'written by ' + 'JavaScript';"
        "</script></body></html>"
    )
    browser.get("data:text/html;charset=utf-8," + quote(html))
    assert browser.title == "Harness"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Moorage browser harness"
    assert browser.find_element(By.ID, "out").text == "written by JavaScript"

    path = shot(browser, screenshots, "harness")
    assert path == screenshots / "harness.png"
    assert path.stat().st_size > 1024
    assert _png_size(path)[0] == 1280

    phone = shot_phone(browser, screenshots, "harness")
    assert phone == screenshots / "harness-phone.png"
    assert _png_size(phone)[0] == 390
    assert browser.get_window_size() == {"width": 1280, "height": 900}


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    files = TlsFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class _Page(BaseHTTPRequestHandler):
    timeout = 5  # a connection Chromium opened but never used must not hold server_close

    def do_GET(self) -> None:
        if self.path != "/":
            self.send_error(404)
            return
        body = f"<!doctype html><title>{SERVED_TITLE}</title><h1>served</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_site(tls_files: TlsFiles) -> Iterator[str]:
    """``https://127.0.0.1:<free port>/`` served from a thread; stopped after the test."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="https-site", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


# https_site comes before browser so that the browser quits before the server stops


def test_self_signed_refused_by_default(https_site: str, browser: webdriver.Chrome) -> None:
    """Control: without the SPKI hash Chromium shows its certificate interstitial."""
    browser.get(https_site)
    assert browser.title != SERVED_TITLE
    assert "ERR_CERT_AUTHORITY_INVALID" in browser.page_source


class TestSpkiTrusted:
    @pytest.fixture
    def browser_spki(self, tls_files: TlsFiles) -> list[str]:
        return [spki_hash(tls_files.cert)]

    def test_self_signed_page_loads(self, https_site: str, browser: webdriver.Chrome) -> None:
        browser.get(https_site)
        assert browser.title == SERVED_TITLE
        assert browser.find_element(By.TAG_NAME, "h1").text == "served"
