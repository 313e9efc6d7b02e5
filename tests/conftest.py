"""Shared fixtures: one real server per kind per session, clients on it, and a private path per test.

The semantic and interop suites run every test against each kind of server in ``SERVER_KINDS`` —
Apache ZooKeeper (the reference) and coord — with the same expectations. A server is started once
per pytest session (a JVM start is expensive) and tests stay out of each other's way by working
under their own ``prefix`` path. Tests that need a pristine tree use ``fresh_server`` sparingly.

ZooKeeper missing: its tests skip, unless ``COORD_REQUIRE_ZOOKEEPER=1`` (set by CI), then they fail.
Run only the reference with ``-k zookeeper`` (or ``-m zookeeper``), only coord with ``-k coord``.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError, NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE

from coord.testing.servers import (
    CoordProcess, Ensemble, ZooKeeperProcess, zookeeper_unavailable_reason,
)

SERVER_KINDS = ("zookeeper", "coord")

# Ensembles of real processes, reached through one member: "<kind>-<size><f|l>" means a client of
# a follower (f) or of the leader (l) of a <size>-member ensemble. The default suite runs the
# semantic tests through a follower of a 3-member ensemble of each kind; -m slow adds the rest.
ENSEMBLE_KINDS = {
    "coord-3f": ("coord", 3, "follower"),
    "zookeeper-3f": ("zookeeper", 3, "follower"),
    "coord-3l": ("coord", 3, "leader"),
    "zookeeper-3l": ("zookeeper", 3, "leader"),
    "coord-5f": ("coord", 5, "follower"),
    "coord-5l": ("coord", 5, "leader"),
}
DEFAULT_ENSEMBLE_KINDS = ("coord-3f", "zookeeper-3f")
SERVER_START_TIMEOUT_S = 60.0
KAZOO_START_TIMEOUT_S = 15.0


@dataclass
class ServerUnderTest:
    kind: str  # "zookeeper", "coord", or an ENSEMBLE_KINDS key
    process: object  # ZooKeeperProcess or CoordProcess: the one the clients talk to
    ensemble: object = None  # coord.testing.servers.Ensemble, for ensemble kinds

    @property
    def implementation(self) -> str:
        """ "zookeeper" or "coord", whatever the topology."""
        return self.kind.split("-")[0]

    @property
    def hosts(self) -> str:
        return self.process.hosts

    @property
    def host(self) -> str:
        return self.process.host

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def tick_ms(self) -> int:
        return self.process.tick_ms


def require_zookeeper() -> None:
    """Skip (or, under COORD_REQUIRE_ZOOKEEPER=1, fail) when Apache ZooKeeper is not installed."""
    reason = zookeeper_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("COORD_REQUIRE_ZOOKEEPER") == "1":
        pytest.fail(f"COORD_REQUIRE_ZOOKEEPER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def start_server(kind: str, work_dir, **kwargs) -> ServerUnderTest:
    if kind in ENSEMBLE_KINDS:
        implementation, size, role = ENSEMBLE_KINDS[kind]
        if implementation == "zookeeper":
            require_zookeeper()
        ensemble = Ensemble(implementation, work_dir, size=size, **kwargs)
        ensemble.start(timeout_s=SERVER_START_TIMEOUT_S)
        leader = ensemble.leader()
        if leader is None:
            ensemble.stop()
            raise RuntimeError(f"{kind}: no leader")
        member = leader if role == "leader" else min(i for i in ensemble.members if i != leader)
        return ServerUnderTest(kind, ensemble.member(member), ensemble)
    if kind == "zookeeper":
        require_zookeeper()
        process = ZooKeeperProcess(work_dir, **kwargs)
    elif kind == "coord":
        process = CoordProcess(work_dir, **kwargs)
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    try:
        process.start(timeout_s=SERVER_START_TIMEOUT_S)
    except BaseException:
        process.kill()
        raise
    return ServerUnderTest(kind, process)


def _kind_param(kind):
    marks = [pytest.mark.zookeeper] if kind.startswith("zookeeper") else []
    if kind in ENSEMBLE_KINDS:
        marks.append(pytest.mark.ensemble)
        if kind not in DEFAULT_ENSEMBLE_KINDS:
            marks.append(pytest.mark.slow)
    return pytest.param(kind, marks=marks, id=kind)


@pytest.fixture(scope="session", params=[_kind_param(k) for k in SERVER_KINDS + tuple(ENSEMBLE_KINDS)])
def server_kind(request) -> str:
    return request.param


def stop_server(sut: ServerUnderTest) -> None:
    if sut.ensemble is not None:
        sut.ensemble.stop()
    else:
        sut.process.stop()


@pytest.fixture(scope="session")
def server(server_kind, tmp_path_factory):
    """The shared server of this kind: ``.hosts``, ``.kind``, ``.process`` (stopped at session end)."""
    sut = start_server(server_kind, tmp_path_factory.mktemp(f"{server_kind}-server"))
    try:
        yield sut
    finally:
        stop_server(sut)


@pytest.fixture
def fresh_server(server_kind, tmp_path):
    """A server of the same kind started for this test only (costly: use for root/global state)."""
    sut = start_server(server_kind, tmp_path / f"fresh-{server_kind}")
    try:
        yield sut
    finally:
        stop_server(sut)


def _new_client(hosts: str, **kwargs) -> KazooClient:
    kwargs.setdefault("timeout", 10.0)
    client = KazooClient(hosts=hosts, **kwargs)
    client.start(timeout=KAZOO_START_TIMEOUT_S)
    return client


def _close_client(client: KazooClient) -> None:
    try:
        client.stop()
    finally:
        client.close()


@pytest.fixture
def make_client(server):
    """Factory for extra sessions: ``make_client(**KazooClient_kwargs)`` -> started client on ``server``
    (or on ``hosts=`` given explicitly). All are stopped and closed at teardown."""
    clients = []

    def factory(**kwargs) -> KazooClient:
        hosts = kwargs.pop("hosts", server.hosts)
        client = _new_client(hosts, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        _close_client(client)


@pytest.fixture
def client(server):
    """A connected kazoo client on the shared server."""
    c = _new_client(server.hosts)
    try:
        yield c
    finally:
        _close_client(c)


_prefix_counter = itertools.count()

# Identities the tests authenticate as; the prefix clean-up uses them to remove protected nodes.
TEST_DIGEST_IDENTITIES = ("alice:secret", "bob:pw")


def _force_delete(client: KazooClient, path: str) -> None:
    """Delete a subtree as far as ACLs allow: open each node's ACL where ADMIN permits, recurse."""
    try:
        client.set_acls(path, OPEN_ACL_UNSAFE)
    except NoNodeError:
        return
    except NoAuthError:
        pass
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    except NoAuthError:
        children = []
    for child in children:
        _force_delete(client, f"{path}/{child}")
    try:
        client.delete(path)
    except KazooException:
        pass


@pytest.fixture
def prefix(request, server, client):
    """A unique persistent node for this test, e.g. ``/t-test_create_modes-zookeeper-7``, removed
    afterwards (best effort; tests give protected nodes an ACL the clean-up identities can undo)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name).strip("-")[:80]
    path = f"/t-{name}-{next(_prefix_counter)}"
    client.create(path, b"")
    yield path
    try:
        client.delete(path, recursive=True)
        return
    except KazooException:
        pass
    cleaner = _new_client(server.hosts)
    try:
        for identity in TEST_DIGEST_IDENTITIES:
            cleaner.add_auth("digest", identity)
        _force_delete(cleaner, path)
    finally:
        _close_client(cleaner)


@pytest.fixture
def make_raw(server):
    """Factory for raw protocol sessions (tests/semantics/raw.py): ``make_raw(**RawSession_kwargs)``.
    Sessions still open at teardown are closed with closeSession."""
    from tests.semantics.raw import RawSession

    sessions = []

    def factory(**kwargs) -> RawSession:
        session = RawSession(server.host, server.port, **kwargs)
        sessions.append(session)
        return session

    yield factory
    for session in reversed(sessions):
        session.__exit__(None, None, None)
