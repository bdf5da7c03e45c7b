"""Reading Swarm's state (services, tasks, nodes) into dynos, nodes and events; settings of
the swarm runtime; the nodes' registry login. The runtime itself runs against real engines
in tests/swarm."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from moorage.errors import RuntimeFailure
from moorage.router.nginx import render
from moorage.runtime.swarm import SwarmRuntime
from moorage.runtime.swarmstate import service_dyno, task_event, to_node
from moorage.server.engines import is_node_login, node_password
from moorage.settings import Settings
from moorage.spec.dyno import OneOffSpec

NODES = {"n1": ("node-1", "172.21.0.2"), "n2": ("node-2", "172.21.0.3")}


def service(**labels: str) -> dict[str, Any]:
    base = {
        "moorage.app": "shop",
        "moorage.type": "web",
        "moorage.number": "2",
        "moorage.release": "7",
        "moorage.fingerprint": "abc",
    }
    return {
        "ID": "svc1",
        "CreatedAt": "2026-11-26T10:00:00.123Z",
        "Spec": {
            "Labels": {**base, **labels},
            "TaskTemplate": {"ContainerSpec": {"Args": ["gunicorn", "app:app"]}},
        },
    }


def task(
    tid: str, state: str, desired: str = "running", node: str = "n2", port: int = 30001, **st: Any
) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state, "Timestamp": f"ts-{tid}", **st}
    if port:
        status["PortStatus"] = {"Ports": [{"TargetPort": 5000, "PublishedPort": port}]}
    return {"ID": tid, "NodeID": node, "DesiredState": desired, "Status": status, "Slot": 1}


def test_a_running_task_is_an_up_dyno_at_its_nodes_address_and_published_port() -> None:
    d = service_dyno(service(), [task("t1", "running")], NODES)
    assert (d.app, d.type, d.number, d.release, d.fingerprint) == ("shop", "web", 2, 7, "abc")
    assert (d.state, d.ip, d.port, d.node) == ("up", "172.21.0.3", 30001, "node-2")
    assert d.command == "gunicorn app:app"
    assert d.started_at == "t1@ts-t1" and d.restart_count == 0


def test_a_task_moved_to_another_node_is_a_new_start_there() -> None:
    before = service_dyno(service(), [task("t1", "running")], NODES)
    moved = [task("t2", "running", node="n1", port=30007), task("t1", "shutdown", "shutdown")]
    after = service_dyno(service(), moved, NODES)
    assert (after.node, after.ip, after.port) == ("node-1", "172.21.0.2", 30007)
    assert after.started_at != before.started_at  # the reconciler checks it again


def test_a_failed_task_waiting_for_its_restart_is_a_crashed_dyno_with_its_exit_code() -> None:
    tasks = [
        task("t2", "ready", port=0),
        task("t1", "failed", "shutdown", ContainerStatus={"ExitCode": 3}, Err="exit 3"),
    ]
    d = service_dyno(service(), tasks, NODES)
    assert (d.state, d.exit_code, d.restart_count) == ("crashed", 3, 1)
    assert d.ip is None and d.port is None and d.started_at == ""


def test_a_crashed_dyno_reports_the_failed_tasks_exit_code_not_the_waiting_ones() -> None:
    # as Swarm shows it: the next task waits out the restart delay (desired "ready") with a
    # container status of its own, exit code 0
    tasks = [
        task("t3", "ready", "ready", port=0, ContainerStatus={"ExitCode": 0}),
        task("t2", "failed", "shutdown", ContainerStatus={"ExitCode": 3}),
        task("t1", "failed", "shutdown", ContainerStatus={"ExitCode": 3}),
    ]
    d = service_dyno(service(), tasks, NODES)
    assert (d.state, d.exit_code, d.restart_count) == ("crashed", 3, 2)


def test_a_task_being_placed_or_pulling_is_starting() -> None:
    for state in ("pending", "assigned", "preparing", "starting"):
        d = service_dyno(service(), [task("t1", state, port=0)], NODES)
        assert d.state == "starting" and d.exit_code is None


def test_a_worker_without_a_port_has_no_address() -> None:
    d = service_dyno(service(**{"moorage.type": "worker"}), [task("t1", "running", port=0)], NODES)
    assert d.state == "up" and d.ip is None and d.port is None


def test_task_events_report_a_crash_and_the_restart() -> None:
    svc = service()
    running = task("t1", "running")
    assert task_event(svc, running, None, known=False) is None  # first sight: not news
    assert task_event(svc, running, "running", known=True) is None
    died = task_event(svc, task("t1", "failed", ContainerStatus={"ExitCode": 137}), "running", True)
    assert died is not None and died.action == "die" and died.dyno.exit_code == 137
    assert died.dyno.id == "svc1" and died.dyno.name == "shop.web.2"
    again = task_event(svc, task("t2", "running"), "starting", known=True)
    assert again is not None and again.action == "start"


def test_a_task_that_failed_between_two_looks_is_a_crash() -> None:
    svc = service()
    quick = task("t3", "failed", ContainerStatus={"ExitCode": 3})
    died = task_event(svc, quick, None, known=True)  # started and died within a second
    assert died is not None and died.action == "die" and died.dyno.exit_code == 3
    assert task_event(svc, quick, "failed", known=True) is None  # reported once


def test_retiring_dynos_report_no_events() -> None:
    svc = service(**{"moorage.retiring": "1"})
    assert task_event(svc, task("t1", "failed"), "running", known=True) is None


def test_nodes_show_their_address_and_which_one_the_platform_talks_to() -> None:
    raw = {
        "ID": "n1",
        "Description": {"Hostname": "node-1", "Engine": {"EngineVersion": "20.10.24"}},
        "Status": {"State": "ready", "Addr": "0.0.0.0"},
        "Spec": {"Role": "manager", "Availability": "active"},
        "ManagerStatus": {"Leader": True, "Addr": "172.21.0.2:2377"},
    }
    node = to_node(raw, manager="n1")
    assert (node.hostname, node.address, node.role, node.leader, node.this) == (
        "node-1",
        "172.21.0.2",  # a manager may report 0.0.0.0: its advertised address stands in
        "manager",
        True,
        True,
    )
    plain = {**raw, "ID": "n2", "ManagerStatus": None, "Status": {"Addr": "1.2.3.4"}}
    worker = to_node(plain, "n1")
    assert (worker.address, worker.this, worker.leader) == ("1.2.3.4", False, False)


def test_settings_choose_the_runtime_and_read_node_engines() -> None:
    assert Settings.from_env({}).runtime == "docker"
    s = Settings.from_env(
        {
            "MOORAGE_RUNTIME": "swarm",
            "MOORAGE_SWARM_NODE_ENGINES": "node-2=tcp://10.0.0.2:2376, node-3=unix:///n3.sock",
            "MOORAGE_DOMAIN": "example.test",
        }
    )
    assert s.runtime == "swarm"
    assert s.swarm_node_engines == {
        "node-2": "tcp://10.0.0.2:2376",
        "node-3": "unix:///n3.sock",
    }
    assert s.node_registry == "registry.example.test"
    with pytest.raises(ValueError, match="use docker or swarm"):
        Settings.from_env({"MOORAGE_RUNTIME": "kubernetes"})
    with pytest.raises(ValueError, match="hostname=URL"):
        Settings.from_env({"MOORAGE_SWARM_NODE_ENGINES": "tcp://10.0.0.2:2376"})


def test_the_node_login_is_derived_from_the_platform_secret() -> None:
    secret = b"s" * 32
    password = node_password(secret)
    assert is_node_login("moorage-node", password, secret)
    assert not is_node_login("moorage-node", password, b"t" * 32)  # a new secret revokes it
    assert not is_node_login("admin", password, secret)
    assert not is_node_login("moorage-node", "", secret)


def test_the_edge_sends_registry_clients_to_its_own_token_url() -> None:
    conf = render_edge()
    assert "header_filter_by_lua_block" in conf
    assert "/registry/token" in conf


def render_edge() -> str:
    from pathlib import Path

    from moorage.router.certs import EdgeCerts
    from moorage.router.nginx import Edge

    certs = EdgeCerts(Path("/c/ca.crt"), Path("/c/edge.crt"), Path("/c/edge.key"))
    edge = Edge("example.test", 443, "127.0.0.1:7070", "127.0.0.1:7050", certs)
    return render(port=7080, root=Path("/r"), edge=edge)


def test_a_new_dyno_avoids_nodes_running_its_type_while_another_node_is_free() -> None:
    from moorage.runtime.swarmstate import spread_constraints

    assert spread_constraints({"a", "b", "c"}, {"a"}) == ["node.id!=a"]
    assert spread_constraints({"a", "b", "c"}, {"a", "b"}) == ["node.id!=a", "node.id!=b"]
    assert spread_constraints({"a", "b"}, {"a", "b"}) == []  # every node has one: anywhere
    assert spread_constraints({"a"}, set()) == []


def test_spreading_yields_when_no_node_may_take_the_dyno() -> None:
    from moorage.runtime.swarmstate import relaxed

    template = {
        "ContainerSpec": {"Image": "x"},
        "Placement": {"Constraints": ["node.id!=a", "node.role==worker"]},
    }
    stuck = {"Status": {"State": "pending", "Err": "no suitable node (scheduling constraints)"}}
    freed = relaxed(template, stuck)
    assert freed is not None and freed["Placement"]["Constraints"] == ["node.role==worker"]
    assert freed["ContainerSpec"] == {"Image": "x"}
    assert relaxed(template, {"Status": {"State": "running"}}) is None
    assert relaxed({"Placement": {}}, stuck) is None  # nothing of ours to drop


def test_a_dyno_service_is_one_bounded_unprivileged_replica_on_a_host_port() -> None:
    from moorage.runtime.swarmspec import service_args
    from moorage.spec.dyno import DynoSpec

    spec = DynoSpec("shop", "web", 2, 7, "reg/shop/web@sha256:1", {"PORT": "5000"}, port=5000)
    args = service_args(
        spec,
        "registry.example.test/shop/web@sha256:1",
        instance="it1",
        user="65534:65534",
        labels={"moorage.app": "shop"},
        networks=[("net1", ["shop.web.2"])],
        constraints=["node.id!=a"],
    )
    assert args["name"].startswith("it1-shop-web-2-") and args["mode"]["replicated"] == {
        "Replicas": 1
    }
    assert args["labels"]["moorage.port"] == "5000" and args["labels"]["moorage.app"] == "shop"
    assert args["endpoint_spec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 5000, "PublishMode": "host"}
    ]
    assert args["update_config"]["Order"] == "start-first"
    template = args["task_template"]
    container = template["ContainerSpec"]
    assert container["User"] == "65534:65534" and container["CapabilityDrop"] == ["ALL"]
    assert container["Env"] == ["PORT=5000"]
    assert template["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 512 * 2**20,
        "Pids": 256,
    }
    assert template["Placement"]["Constraints"] == ["node.id!=a"]
    assert template["Networks"][0]["Target"] == "net1"


class _FlakyLocal:
    """The manager's engine: the first ``failures`` starts find the overlay network being
    torn down (the node's last container on it just left)."""

    def __init__(self, failures: int, message: str) -> None:
        self.failures, self.message, self.calls = failures, message, 0

    def start_oneoff(self, spec: OneOffSpec) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeFailure(f"Cannot start dyno {spec.name}: {self.message}")
        return f"started {spec.image}"


def _swarm_with(local: _FlakyLocal) -> Any:
    return SimpleNamespace(
        local=local,
        _app_network=lambda app: "net",
        _group_network=lambda group: "group-net",
        _image=lambda image: f"node-registry/{image}",
    )


def test_a_one_off_retries_while_its_overlay_network_is_being_torn_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)
    spec = OneOffSpec("shop", "run", 4, 7, "shop:7", {}, ["true"])
    local = _FlakyLocal(2, "network btjb5t334n88zu2j4l9rzeoov not found")
    assert SwarmRuntime.start_oneoff(_swarm_with(local), spec) == "started node-registry/shop:7"
    assert local.calls == 3
    other = _FlakyLocal(1, "no such image")  # any other failure is the user's answer at once
    with pytest.raises(RuntimeFailure, match="no such image"):
        SwarmRuntime.start_oneoff(_swarm_with(other), spec)
    assert other.calls == 1
