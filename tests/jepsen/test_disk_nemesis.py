"""The disk nemesis: a follower's write-ahead log damaged while it is down (lost tail, torn last
record, a flipped byte mid-log). The member repairs or refuses, never serves wrong data, is caught
up by the leader, and the results say what it did."""

from __future__ import annotations

import random
import time

import pytest
from kazoo.client import KazooClient

from jepsen_like.cluster import Ensemble, four_letter_word
from jepsen_like.history import read_jsonl
from jepsen_like.nemesis import Disk, NemesisContext, NemesisUnavailable, damage_log
from jepsen_like.runner import RunConfig, run
from tests.jepsen.test_runs import assert_run_dir, require_netns


def zxid(ensemble: Ensemble, name: str) -> int:
    """The member's last zxid from srvr; -1 while it is not serving."""
    member = ensemble.member(name)
    try:
        text = four_letter_word(member.host, member.client_port, "srvr")
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith("Zxid:"):
            return int(line.split()[1], 16)
    return -1


EXPECTED = {
    "lose-tail": "started; nothing to repair",
    "torn-tail": "repaired: ",
    "corrupt": "refused to start: ",
}


@pytest.mark.timeout(240)
def test_each_disk_fault_is_repaired_or_refused_and_the_member_catches_up(tmp_path):
    """On 127.0.0.1 (no namespaces needed): one ensemble, each kind of damage in turn."""
    ensemble = Ensemble("coord", 3, tmp_path)
    client = None
    try:
        ensemble.start_all()
        client = KazooClient(hosts=ensemble.connect_string)
        client.start(timeout=30)
        ctx = NemesisContext(ensemble, random.Random(5))
        for round_number, kind in enumerate(EXPECTED):
            for i in range(60):
                client.create(f"/before-{round_number}-{i}", b"x")
            nemesis = Disk(kind)
            nemesis.check(ensemble)
            injected = nemesis.inject(ctx)
            assert injected["kind"] == kind and injected["member"] != ensemble.leader()
            nemesis.heal(ctx, injected)
            assert injected["member_did"].startswith(EXPECTED[kind]), injected
            if kind == "torn-tail":
                assert "truncating torn tail" in injected["member_did"]
            if kind == "corrupt":
                assert "corrupt log segment" in injected["member_did"] and "wiped" in injected["member_did"]
            for i in range(20):
                client.create(f"/after-{round_number}-{i}", b"x")
            # The damaged member gets back everything it lost (a lost acknowledged tail used to
            # leave it stuck: the leader probed past the gap forever).
            target = injected["member"]
            deadline = time.monotonic() + 30
            while zxid(ensemble, target) != zxid(ensemble, ensemble.leader() or target) or zxid(ensemble, target) < 0:
                assert time.monotonic() < deadline, f"{target} never caught up after {kind}"
                time.sleep(0.2)
            member = ensemble.member(target)
            probe = KazooClient(hosts=member.address)
            probe.start(timeout=30)
            try:
                probe.sync("/")
                assert len(probe.get_children("/")) == len(client.get_children("/"))
            finally:
                probe.stop()
                probe.close()
    finally:
        if client is not None:
            client.stop()
            client.close()
        ensemble.stop_all()


def test_corruption_is_put_where_a_later_record_follows(tmp_path):
    # Without a later record the damage would read as a torn tail: the nemesis must not do that.
    from coord.storage.format import encode_record, encode_segment_header

    log = tmp_path / "log"
    log.mkdir()
    records = b"".join(encode_record(z, b"payload %d" % z) for z in range(1, 6))
    (log / "log.0000000000000001").write_bytes(encode_segment_header(1, 0) + records)
    said = damage_log(log, "corrupt", random.Random(1))
    assert "later records in the segment" in said and "0 later" not in said
    from coord.storage.format import CorruptLogError, scan_records

    with pytest.raises(CorruptLogError):
        scan_records((log / "log.0000000000000001").read_bytes(), file_name="log.0000000000000001")


def test_the_disk_nemesis_is_for_coord_ensembles_only(tmp_path):
    with pytest.raises(NemesisUnavailable, match="at least 3"):
        Disk().check(Ensemble("coord", 1, tmp_path))


@pytest.mark.slow  # about 25 s; the per-kind test above is the default suite's share
@pytest.mark.timeout(180)
def test_a_run_under_the_disk_nemesis_is_valid_and_says_what_members_did(tmp_path):
    require_netns()
    result = run(RunConfig(system="coord", nodes=3, workload="set", nemesis="disk", time_s=8.0, concurrency=4,
                           seed=3, out=tmp_path / "run", progress=False, quiet_s=1.0, fault_s=1.5))
    record = assert_run_dir(result)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    assert record["faults_injected"] >= 1 and not record["nemesis_errors"], record
    assert len(record["member_reactions"]) == record["faults_injected"]
    assert "disk fault: " in (result.run_dir / "verdicts.txt").read_text()
    ends = [e for e in read_jsonl(result.run_dir / "history.jsonl").nemesis_events() if e.get("fault") == "end"]
    assert all("member_did" in e.value for e in ends)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("workload", ["register", "set", "sequential", "ephemeral"])
def test_longer_runs_under_the_disk_nemesis_are_valid(tmp_path, workload):
    require_netns()
    result = run(RunConfig(system="coord", nodes=3, workload=workload, nemesis="disk", time_s=30.0, concurrency=6,
                           seed=1, out=tmp_path / "run", progress=False, quiet_s=2.0, fault_s=2.0))
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
