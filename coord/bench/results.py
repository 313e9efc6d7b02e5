"""Results: per-label latency histograms merged across workers, summaries, ratio tables (pure).

Theory of operation. A worker counts each completed request's latency in whole microseconds in a
plain dict (``LatencyCounts``: value -> count, about 0.1 us per request; the HDR library's own
``record_value`` costs ~3 us in Python, more than a request). At the end it records the dict into
an ``hdrh`` histogram (``record_value(v, count)``; 3 significant digits, 1 us .. 1 h) and ships
it encoded (``HdrHistogram.encode``), since histograms cross process boundaries as bytes. The
parent decodes and ``add``s them: merging is exact, percentiles come from the library.

A ``LabelStats`` is everything about one kind of request (get, set, create, ...): completed count,
errors by code, the histogram, and the first send / last reply times (monotonic ns, comparable
across processes on Linux) for finite workloads whose window is not fixed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

__all__ = [
    "LOWEST_US", "HIGHEST_US", "SIGNIFICANT_DIGITS", "new_histogram", "histogram_from_counts",
    "LabelStats", "merge_label_stats", "summarize_histogram", "cpu_per_1k_ops",
    "generator_saturated", "generator_starved", "SATURATION_SHARE", "STARVED_SHARE", "median_or_none", "ratio", "format_table",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is a stuck run, not a latency
SIGNIFICANT_DIGITS = 3
# A worker busy this share of its wall time is the bottleneck, not the server.
SATURATION_SHARE = 0.90
STARVED_SHARE = 0.25


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_from_counts(counts: dict) -> HdrHistogram:
    """An HDR histogram holding ``{latency_us: count}`` (values clamped into the trackable range)."""
    hist = new_histogram()
    for value, count in counts.items():
        hist.record_value(min(max(int(value), LOWEST_US), HIGHEST_US), count)
    return hist


@dataclass
class LabelStats:
    count: int = 0
    errors: dict = field(default_factory=dict)  # ZooKeeper error code -> count
    histogram: HdrHistogram = field(default_factory=new_histogram)
    first_send_ns: int | None = None
    last_reply_ns: int | None = None

    def to_wire(self) -> dict:
        return {"count": self.count, "errors": dict(self.errors),
                "histogram": self.histogram.encode(), "first_send_ns": self.first_send_ns,
                "last_reply_ns": self.last_reply_ns}

    @classmethod
    def from_wire(cls, d: dict) -> "LabelStats":
        hist = HdrHistogram.decode(d["histogram"]) if d["count"] else new_histogram()
        return cls(d["count"], {int(k): v for k, v in d["errors"].items()}, hist,
                   d["first_send_ns"], d["last_reply_ns"])

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def merge(self, other: "LabelStats") -> None:
        self.count += other.count
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n
        if other.histogram.get_total_count():
            self.histogram.add(other.histogram)
        if other.first_send_ns is not None:
            self.first_send_ns = (other.first_send_ns if self.first_send_ns is None
                                  else min(self.first_send_ns, other.first_send_ns))
        if other.last_reply_ns is not None:
            self.last_reply_ns = (other.last_reply_ns if self.last_reply_ns is None
                                  else max(self.last_reply_ns, other.last_reply_ns))


def merge_label_stats(per_worker: list) -> dict:
    """``[{label: LabelStats}]`` from every worker -> ``{label: LabelStats}`` (plus ``"all"``)."""
    merged: dict = {}
    total = LabelStats()
    for stats in per_worker:
        for label, s in stats.items():
            merged.setdefault(label, LabelStats()).merge(s)
            total.merge(s)
    if merged:
        merged["all"] = total
    return merged


def summarize_histogram(hist: HdrHistogram) -> dict:
    """Latency figures in milliseconds (None when nothing was recorded)."""
    if not hist.get_total_count():
        return {"p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "p50_ms": hist.get_value_at_percentile(50) / 1000.0,
        "p99_ms": hist.get_value_at_percentile(99) / 1000.0,
        "p999_ms": hist.get_value_at_percentile(99.9) / 1000.0,
        "max_ms": hist.get_max_value() / 1000.0,
        "mean_ms": hist.get_mean_value() / 1000.0,
    }


def cpu_per_1k_ops(cpu_s: float | None, ops: int) -> float | None:
    if cpu_s is None or ops <= 0:
        return None
    return cpu_s / (ops / 1000.0)


def generator_saturated(worker_busy_shares: list) -> bool:
    """True when any worker used about a whole core: the figures are the generator's ceiling."""
    return any(share >= SATURATION_SHARE for share in worker_busy_shares)


def generator_starved(runqueue_wait_shares: list) -> bool:
    """True when a worker spent more than a quarter of the window runnable but not running: other
    processes (the servers, or another user of the machine) held the CPUs, so the generator may
    have been late to send and to read, whatever its own busy share."""
    return any(share > STARVED_SHARE for share in runqueue_wait_shares)


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(numerator, denominator):
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def _cell(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(headers: list, rows: list, markdown: bool = False) -> str:
    """A plain-text (aligned) or Markdown table of already-chosen cells."""
    cells = [[_cell(v) for v in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    for row in cells:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
