"""The port a web process really listens on (issue 24 item 3)."""

from __future__ import annotations

from dataclasses import replace

from moorage.runtime.engineops import listening_ports
from moorage.server.background import ports
from moorage.spec.dyno import Dyno, DynoSpec
from tests.unit.fakes import FakeRuntime

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534 0 1
   1: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534 0 2
   3: 0B00007F:8FB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4
   2: 0A000002:1388 0A000001:D431 01 00000000:00000000 00:00000000 00000000 65534 0 3
"""
TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A
"""


def test_listening_ports_leave_out_loopback_and_connections() -> None:
    assert listening_ports(TCP + TCP6) == [5000, 8080]  # not 9000/80 on loopback, not 01


class Deaf(FakeRuntime):
    """Dynos that never pass the check: the boot times out."""

    def wait_ready(self, dyno: Dyno, timeout: float, path: str | None = None) -> str | None:
        return f"{dyno.name} did not bind port {dyno.port} within {timeout:.0f}s (boot timeout)"


def _spec(**kw: object) -> DynoSpec:
    base = DynoSpec("demo", "web", 1, 2, "img", {"PORT": "8080"}, port=8080, boot_timeout=30)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_one_other_port_is_found_several_or_none_are_named() -> None:
    runtime = Deaf()
    dyno = runtime.start(_spec())
    runtime.ports_heard[dyno.name] = [5000]
    assert ports.wait_or_find(runtime, dyno, _spec()) == (None, 5000)
    runtime.ports_heard[dyno.name] = [5000, 9000]
    reason, found = ports.wait_or_find(runtime, dyno, _spec())
    assert found is None and reason is not None
    assert "within 30s" in reason and "listened on 5000, 9000 instead of $PORT (8080)" in reason
    runtime.ports_heard[dyno.name] = []
    reason, _ = ports.wait_or_find(runtime, dyno, _spec())
    assert reason is not None and "listened on no TCP port" in reason
    worker = _spec(type="worker", port=None)
    assert ports.wait_or_find(runtime, runtime.start(worker), worker)[1] is None
