"""A real DNS server (Debian's dnsmasq) standing in for a user's DNS provider: tests publish
TXT records in it and the platform looks them up there (``MOORAGE_DNS_RESOLVERS``)."""

from __future__ import annotations

import shutil
import subprocess
import time

from moorage.dnsproof import txt_values
from moorage.errors import DnsUnreachable


class DnsZone:
    """Answers for every name under ``.test``: the TXT records published, else NXDOMAIN."""

    def __init__(self, port: int) -> None:
        if shutil.which("dnsmasq") is None:
            raise AssertionError("dnsmasq is missing: ./bin/test installs dnsmasq-base")
        self.port = port
        self.records: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    def publish(self, name: str, value: str) -> None:
        self.records[name] = value
        self._restart()

    def withdraw(self, name: str) -> None:
        self.records.pop(name, None)
        self._restart()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def _restart(self) -> None:
        self.close()
        self._start()

    def _start(self) -> None:
        argv = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={self.port}",
            "--pid-file=",
            *(f"--txt-record={name},{value}" for name, value in self.records.items()),
        ]
        self._proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
        self._wait_answering()

    def _wait_answering(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                txt_values("ready.test", (f"127.0.0.1:{self.port}",), timeout=0.5)
                return
            except DnsUnreachable:  # not up yet
                if self._proc is not None and self._proc.poll() is not None:
                    err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                    raise AssertionError(f"dnsmasq exited: {err}") from None
                time.sleep(0.1)
        raise AssertionError(f"dnsmasq did not answer on 127.0.0.1:{self.port}")
