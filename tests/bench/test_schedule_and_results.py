"""The pure parts of coord bench: the open-loop schedule, result merging, summaries, tables."""

import pytest

from coord.bench import report
from coord.bench.results import (
    LabelStats, format_table, generator_saturated, generator_starved, histogram_from_counts,
    merge_label_stats, summarize_histogram,
)
from coord.bench.runner import BenchOptions, parse_targets
from coord.bench.schedule import OpenLoopSchedule


# -- open-loop schedule --------------------------------------------------------------------------


def test_schedule_releases_requests_at_their_intended_times():
    s = OpenLoopSchedule(1000.0, start_ns=1_000_000_000)  # one per millisecond
    assert s.due(999_999_999) == []
    assert s.due(1_000_000_000) == [1_000_000_000]
    assert s.due(1_003_500_000) == [1_001_000_000, 1_002_000_000, 1_003_000_000]
    assert s.next_due_ns() == 1_004_000_000


def test_late_requests_keep_their_intended_time():
    """A generator (or server) that stalls does not shift the schedule: the backlog comes out at
    once with the times it should have gone at, so its latency includes the stall."""
    s = OpenLoopSchedule(100.0, start_ns=0)
    assert len(s.due(1_000_000_000)) == 101
    assert s.due(1_000_000_000) == []


def test_schedule_limit_and_rewind():
    s = OpenLoopSchedule(1000.0, start_ns=0)
    assert s.due(9_000_000, limit=4) == [0, 1_000_000, 2_000_000, 3_000_000]
    s.sent -= 2  # two had no room: offered again, same intended times
    assert s.due(9_000_000)[:2] == [2_000_000, 3_000_000]


@pytest.mark.parametrize("rate", [0, -5])
def test_schedule_refuses_a_rate_that_is_not_positive(rate):
    with pytest.raises(ValueError):
        OpenLoopSchedule(rate, 0)


# -- merging ------------------------------------------------------------------------------------


def _stats(counts, errors=None, first=None, last=None):
    return LabelStats(sum(counts.values()), errors or {}, histogram_from_counts(counts), first, last)


def test_histograms_merge_exactly_across_the_wire():
    a = _stats({100: 90, 5000: 10}, {-101: 2}, first=10, last=50)
    b = _stats({200: 100}, {-101: 1, -110: 4}, first=5, last=40)
    wired = [{"get": LabelStats.from_wire(a.to_wire())}, {"get": LabelStats.from_wire(b.to_wire()),
                                                          "set": _stats({300: 1})}]
    merged = merge_label_stats(wired)
    get = merged["get"]
    assert get.count == 200 and get.histogram.get_total_count() == 200
    assert get.errors == {-101: 3, -110: 4} and get.error_count == 7
    assert (get.first_send_ns, get.last_reply_ns) == (5, 50)
    assert get.histogram.get_max_value() == pytest.approx(5000, rel=1e-3)
    assert merged["all"].count == 201
    assert summarize_histogram(get.histogram)["p50_ms"] == pytest.approx(0.2, rel=1e-2)


def test_an_empty_label_summarizes_to_none_and_survives_the_wire():
    empty = LabelStats.from_wire(LabelStats().to_wire())
    assert empty.count == 0
    assert summarize_histogram(empty.histogram)["p99_ms"] is None
    assert merge_label_stats([]) == {}


def test_out_of_range_latencies_are_clamped_not_lost():
    hist = histogram_from_counts({0: 3, 10**13: 1})
    assert hist.get_total_count() == 4


def test_saturation_and_starvation_flags():
    assert not generator_saturated([0.3, 0.5])
    assert generator_saturated([0.3, 0.95])
    assert not generator_starved([0.05])
    assert generator_starved([0.05, 0.4])


# -- options and targets --------------------------------------------------------------------------


def test_targets_parse_as_a_connect_string():
    assert parse_targets("127.0.0.1:2181, localhost:2182") == [("127.0.0.1", 2181),
                                                                ("localhost", 2182)]
    for bad in ("", "host", "host:", ":2181", "host:99999", "host:abc"):
        with pytest.raises(ValueError):
            parse_targets(bad)


@pytest.mark.parametrize("bad", [dict(connections=0), dict(depth=0), dict(duration_s=0),
                                 dict(rate=-1.0), dict(read_ratio=2.0), dict(size=-1)])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError):
        BenchOptions(**bad).check()


# -- reports --------------------------------------------------------------------------------------


def _result(ops_s, p50, saturated=False, cpu=0.1):
    return {"throughput_ops_s": ops_s, "p50_ms": p50, "p99_ms": p50 * 3, "p999_ms": p50 * 4,
            "max_ms": p50 * 5, "errors": 0, "labels": {"get": {"throughput_ops_s": ops_s,
                                                                 "p50_ms": p50}},
            "server": {"cpu_s_per_1k_ops": cpu}, "generator": {"saturated": saturated}}


def test_summary_takes_medians_and_ratios_per_case():
    case = {"workload": "get", "connections": 8, "depth": 32}
    runs = [{"topology": "standalone", "system": s, "case": case, "repeat": i,
             "result": _result(v, p)}
            for s, vals in (("coord", [(300, 1.0), (100, 3.0), (200, 2.0)]),
                            ("zookeeper", [(100, 4.0), (100, 4.0), (400, 1.0)]))
            for i, (v, p) in enumerate(vals)]
    (row,) = report.summarize(runs)
    assert row["case"] == "get 8x32"
    assert row["coord"]["throughput_ops_s"] == 200 and row["zookeeper"]["throughput_ops_s"] == 100
    assert row["ratio"]["throughput_ops_s"] == 2.0 and row["ratio"]["p50_ms"] == 0.5
    assert row["coord"]["runs"] == 3
    text = report.summary_table([row])
    assert "2.00x" in text and "get 8x32" in text
    assert report.summary_table([row], markdown=True).startswith("| topology |")


def test_headroom_is_calibration_over_the_fastest_median_server_result():
    def row(case, coord, zk):
        return {"case": case, "coord": {"throughput_ops_s": coord},
                "zookeeper": {"throughput_ops_s": zk}}

    summary = [row("get 8x32", 250.0, 200.0), row("set 8x32", 100.0, 120.0),
               row("watch-fanout 1000w", 5000.0, 9000.0)]
    h = report.headroom({"throughput_ops_s": 1000.0}, summary)
    assert h == {"calibration_ops_s": 1000.0, "fastest_server_ops_s": 250.0, "headroom": 4.0}
    assert report.headroom(None, summary)["headroom"] is None


def test_format_table_aligns_and_marks_missing_values():
    text = format_table(["a", "b"], [["x", None], ["longer", 1234.5]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "-" in lines[1] and "1,234" in lines[2]
