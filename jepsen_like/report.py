"""Reports: what a person looks at after a run. A summary first, then a timeline and two plots.

Theory of operation
-------------------
``render_report(history, out_dir, check=...)`` writes, into ``out_dir``:

* ``summary.txt``    the page a person reads first: the verdict and why, what ran, what failed, the
                     faults, latencies. The same text heads both HTML pages.
* ``index.html``     the summary, the plots, and a link to the timeline.
* ``timeline.html``  one lane per process, each operation a bar from invocation to completion, colored
                     by outcome (ok blue, fail pink, unknown orange; an operation that never completed
                     runs faded to the end), nemesis intervals shaded grey, the counterexample's
                     operations outlined in red. Self-contained SVG + CSS; hovering a bar shows the op.
* ``timeline.png``   the same timeline drawn by matplotlib, for places that show pictures, not pages;
  ``counterexample.png`` a close-up of the failing window, with each operation labeled, when there is one.
* ``latency.png``    each operation's latency against the time it was invoked, by outcome.
* ``throughput.png`` completions per second over time, by outcome.

Time is the histories' monotonic clock when every event has one. Histories without times (Porcupine's
logs, some Knossos files) are drawn against their position in the history instead, and every axis
says which it is. Plots shade nemesis intervals, found by :func:`nemesis_intervals`.
"""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from jepsen_like.checker.linearizability import LinearizabilityResult
from jepsen_like.checker.models import Model
from jepsen_like.checker.result import CheckResult
from jepsen_like.history import Event, History, Operation

__all__ = ["NemesisInterval", "Report", "nemesis_intervals", "render_report"]

OUTCOME_COLORS = {"ok": "#4f8fd6", "fail": "#f08fb4", "unknown": "#f5a431"}
OUTCOME_LABELS = {"ok": "ok", "fail": "fail", "unknown": "unknown outcome (info)"}
COUNTEREXAMPLE_COLOR = "#d62020"
NEMESIS_COLOR = "#7a7a7a"

# Nemesis f's that end a fault. "start" ends one only after a kill-like fault (kill ... start), and
# otherwise begins one (Jepsen's generic start/stop).
_HEALING = {"stop", "heal", "recover", "resume", "restore", "fix", "repair", "unpartition"}
_STOPPING = {"kill", "crash", "pause", "stop-node", "suspend"}


@dataclass(frozen=True)
class NemesisInterval:
    start: int  # event index of the event that began the fault
    end: int | None  # event index of the event that healed it; None: never healed
    label: str


@dataclass
class Report:
    summary: str
    files: list[Path] = field(default_factory=list)


def nemesis_intervals(events: Sequence[Event]) -> list[NemesisInterval]:
    """Fault intervals from nemesis events. An explicit ``fault`` field ("begin"/"end", written by
    :meth:`HistoryWriter.nemesis`) wins; otherwise the ``f`` names are read the way Jepsen's nemeses
    use them, and a repeated event (Jepsen logs a nemesis op's invocation and completion as two
    ``info`` events with the same ``f``) belongs to the interval it repeats."""
    intervals: list[NemesisInterval] = []
    open_start: int | None = None
    open_f = ""
    open_label = ""
    last: Event | None = None
    for event in events:
        if not event.is_nemesis:
            continue
        marked = event.extra.get("fault")
        repeat = last is not None and last.f == event.f
        last = event
        if marked == "begin" or (marked is None and open_start is None and not repeat and event.f not in _HEALING):
            if open_start is not None:
                intervals.append(NemesisInterval(open_start, event.index, open_label))
            open_start, open_f = event.index, event.f
            open_label = event.f if event.value is None else f"{event.f} {_short(event.value, 40)}"
            continue
        if open_start is not None and (
            marked == "end"
            or (marked is None and not repeat and (event.f in _HEALING or (event.f == "start" and open_f in _STOPPING)))
        ):
            intervals.append(NemesisInterval(open_start, event.index, open_label))
            open_start = None
            continue
        if open_start is not None and marked is None and repeat and event.value is not None and event.f == open_f:
            open_label = f"{event.f} {_short(event.value, 40)}"  # the completion says what was done
    if open_start is not None:
        intervals.append(NemesisInterval(open_start, None, open_label))
    return intervals


def _short(value: Any, limit: int = 24) -> str:
    text = "nil" if value is None else str(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Clock:
    """Maps event indices to the x axis: seconds since the first event, or the index itself."""

    def __init__(self, history: History) -> None:
        events = history.events
        self.has_times = bool(events) and all(event.monotonic_ns is not None for event in events)
        if self.has_times:
            origin = events[0].monotonic_ns
            self.times = [(event.monotonic_ns - origin) / 1e9 for event in events]
            # Some recorders stamp events slightly out of order; keep the axis monotonic.
            for i in range(1, len(self.times)):
                self.times[i] = max(self.times[i], self.times[i - 1])
        else:
            self.times = [float(event.index) for event in events]
        self.end = self.times[-1] if self.times else 0.0
        self.unit = "s" if self.has_times else "events"
        self.axis_label = "time since start (s)" if self.has_times else "position in history (events; no times recorded)"

    def at(self, index: int | None) -> float:
        return self.end if index is None else self.times[index]


def _describe(model: Model | None, op: Operation) -> str:
    if model is not None:
        return model.describe_op(op)
    text = op.f if op.value is None else f"{op.f} {_short(op.value)}"
    if op.outcome == "ok" and op.output is not None and op.output != op.value:
        text += f" -> {_short(op.output)}"
    return text


def render_report(
    history: History,
    out_dir: str | Path,
    *,
    check: LinearizabilityResult | CheckResult | None = None,
    title: str = "history",
    history_format: str = "jsonl",
    plots: bool = True,
) -> Report:
    """Write summary.txt, timeline.html and index.html, and unless ``plots`` is False the PNGs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ops = history.operations()
    clock = _Clock(history)
    intervals = nemesis_intervals(history.events)
    model = check.model if isinstance(check, LinearizabilityResult) else None
    highlighted: set[int] = set()
    if isinstance(check, LinearizabilityResult) and check.counterexample is not None:
        highlighted = check.counterexample.operation_ids() | {check.counterexample.failing_op.id}

    summary = _summary(history, ops, clock, intervals, check, title, history_format)
    report = Report(summary=summary)
    (out / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    report.files.append(out / "summary.txt")
    if plots:
        import matplotlib

        matplotlib.use("Agg")  # no display; must precede pyplot
        report.files.append(_timeline_png(ops, clock, intervals, highlighted, model, out / "timeline.png", title))
        if isinstance(check, LinearizabilityResult) and check.counterexample is not None:
            report.files.append(_counterexample_png(ops, clock, check, out / "counterexample.png"))
        report.files.append(_latency_png(ops, clock, intervals, out / "latency.png", title))
        report.files.append(_throughput_png(ops, clock, intervals, out / "throughput.png", title))
    timeline_svg = _timeline_svg(ops, clock, intervals, highlighted, model)
    (out / "timeline.html").write_text(_page(title + " — timeline", summary, timeline_svg, []), encoding="utf-8")
    report.files.append(out / "timeline.html")
    images = [path.name for path in report.files if path.suffix == ".png"]
    (out / "index.html").write_text(_page(title, summary, "", images), encoding="utf-8")
    report.files.append(out / "index.html")
    return report


# --- summary ---------------------------------------------------------------------------------------


def _summary(history, ops, clock, intervals, check, title, history_format) -> str:
    lines: list[str] = []
    if check is not None:
        lines.append(f"VERDICT: {check.verdict.upper()}")
        lines.append(check.render())
        lines.append("")
    processes = {op.process for op in ops}
    span = f"over {_number(clock.end)} s" if clock.has_times else f"(no times recorded; {len(history.events)} events)"
    lines.append(f"History {title} ({history_format}): {len(ops)} operations by {len(processes)} processes {span}")
    if history.truncated_tail:
        lines.append("The last line was torn (the run was killed while writing) and was ignored.")
    by_outcome = {outcome: sum(1 for op in ops if op.outcome == outcome) for outcome in ("ok", "fail", "unknown")}
    lines.append("Outcomes: " + ", ".join(f"{OUTCOME_LABELS[k]} {v}" for k, v in by_outcome.items()))
    for f in sorted({op.f for op in ops}):
        counts = {o: sum(1 for op in ops if op.f == f and op.outcome == o) for o in ("ok", "fail", "unknown")}
        lines.append(f"  {f:<10} ok {counts['ok']:<6} fail {counts['fail']:<6} unknown {counts['unknown']}")
    if intervals:
        described = []
        for interval in intervals[:12]:
            end = "never healed" if interval.end is None else _number(clock.at(interval.end))
            described.append(f"{interval.label} {_number(clock.at(interval.start))}..{end}")
        lines.append(f"Faults ({len(intervals)}, in {clock.unit}): " + "; ".join(described)
                     + (" ..." if len(intervals) > 12 else ""))
    else:
        lines.append("Faults: no nemesis events in this history")
    if clock.has_times:
        latencies = sorted((clock.at(op.return_index) - clock.at(op.call_index)) * 1000 for op in ops
                           if op.return_index is not None)
        if latencies:
            lines.append(
                "Latency of completed operations (ms): "
                f"p50 {_number(_percentile(latencies, 50))}, p95 {_number(_percentile(latencies, 95))}, "
                f"p99 {_number(_percentile(latencies, 99))}, max {_number(latencies[-1])}, "
                f"mean {_number(statistics.fmean(latencies))}"
            )
    return "\n".join(lines)


def _number(value: float) -> str:
    """Three or so significant figures without exponents where people read them: 2190, 34.5, 0.42."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.1f}"
    return "0" if value == 0 else f"{value:.2g}"


def _percentile(sorted_values: Sequence[float], percent: float) -> float:
    rank = max(0, min(len(sorted_values) - 1, round(percent / 100 * (len(sorted_values) - 1))))
    return sorted_values[rank]


# --- matplotlib pictures ---------------------------------------------------------------------------


def _lanes(ops: Sequence[Operation]) -> dict[Any, int]:
    processes = sorted({op.process for op in ops}, key=lambda p: (not isinstance(p, int), p if isinstance(p, int) else 0, str(p)))
    return {process: lane for lane, process in enumerate(processes)}


def _shade(axes, clock: _Clock, intervals: Sequence[NemesisInterval], label: bool = True,
           annotate: bool = False) -> None:
    for number, interval in enumerate(intervals):
        start, end = clock.at(interval.start), clock.at(interval.end)
        axes.axvspan(start, end, color=NEMESIS_COLOR, alpha=0.22, lw=0, zorder=0,
                     label="nemesis (fault active)" if label and number == 0 else None)
        if annotate:
            axes.annotate(_short(interval.label, 28), xy=(start, 1.0), xycoords=("data", "axes fraction"),
                          xytext=(2, 3), textcoords="offset points", fontsize=7, color="#555555")


def _op_extent(op: Operation, clock: _Clock) -> tuple[float, float]:
    start = clock.at(op.call_index)
    end = clock.at(op.completion_index)
    # Give instantaneous ops a sliver of width so they stay visible.
    return start, max(end - start, (clock.end or 1.0) / 2000)


def _timeline_png(ops, clock, intervals, highlighted, model, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    lanes = _lanes(ops)
    height = min(2.0 + 0.32 * max(len(lanes), 1), 30)
    figure, axes = plt.subplots(figsize=(16, height), dpi=110)
    _shade(axes, clock, intervals, annotate=True)
    # One broken_barh per (lane, look): one artist per op makes matplotlib's autoscaling quadratic
    # (a 14,000-op run took five minutes to draw; grouped, seconds).
    groups: dict[tuple[int, str, bool, bool], list[tuple[float, float]]] = {}
    for op in ops:
        look = (lanes[op.process], op.outcome, op.completion_index is None, op.id in highlighted)
        groups.setdefault(look, []).append(_op_extent(op, clock))
    for (lane, outcome, never_completed, marked), extents in groups.items():
        axes.broken_barh(
            extents, (lane - 0.38, 0.76),
            facecolors=OUTCOME_COLORS[outcome],
            alpha=0.35 if never_completed else 0.95,
            edgecolors=COUNTEREXAMPLE_COLOR if marked else "white",
            linewidth=2.0 if marked else 0.3,
            zorder=3 if marked else 2,
        )
    axes.set_yticks(range(len(lanes)), [f"process {p}" for p in lanes])
    axes.set_ylim(len(lanes) - 0.5, -0.5)
    axes.set_xlim(0, clock.end or 1)
    axes.set_xlabel(clock.axis_label)
    axes.set_title(f"{title}: operations by process", pad=14)
    present = {op.outcome for op in ops if op.completion_index is not None}
    handles = [Patch(color=OUTCOME_COLORS[o], label=OUTCOME_LABELS[o]) for o in OUTCOME_COLORS if o in present]
    if any(op.completion_index is None for op in ops):
        handles.append(Patch(color=OUTCOME_COLORS["unknown"], alpha=0.35, label="never completed"))
    if intervals:
        handles.append(Patch(color=NEMESIS_COLOR, alpha=0.3, label="nemesis (fault active)"))
    if highlighted:
        handles.append(Patch(facecolor="white", edgecolor=COUNTEREXAMPLE_COLOR, linewidth=2, label="counterexample"))
    axes.grid(axis="x", color="#dddddd", zorder=0)
    axes.set_axisbelow(True)
    figure.tight_layout(rect=(0, 0.35 / height, 1, 1))  # leave 0.35 in at the bottom for the legend
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    figure.savefig(path)
    plt.close(figure)
    return path


MAX_CLOSE_UP_BARS = 300


def _counterexample_png(ops, clock, check: LinearizabilityResult, path: Path) -> Path:
    """A close-up of the failing window: only the processes involved, every bar labeled."""
    import matplotlib.pyplot as plt

    example = check.counterexample
    model = check.model
    shown_ids = example.operation_ids() | {example.failing_op.id} | {op.id for op in example.open_ops}
    for config in example.configurations:
        shown_ids |= {op.id for op in config.recently_linearized}
    start = min(clock.at(ops_by_id.call_index) for ops_by_id in ops if ops_by_id.id in shown_ids)
    end = clock.at(example.window_end_index)
    margin = max((end - start) * 0.15, 1e-3 if clock.has_times else 1)
    left, right = start - margin, end + margin
    shown_processes = {o.process for o in ops if o.id in shown_ids}
    involved = [op for op in ops if op.id in shown_ids or (
        op.process in shown_processes and (example.key is None or op.key == example.key)
        and clock.at(op.call_index) < right and clock.at(op.completion_index) > left)]
    if len(involved) > MAX_CLOSE_UP_BARS:
        # A long window (an op left open since early on) would draw thousands of unreadable bars:
        # keep the counterexample's own ops and those nearest the failing one.
        end_index = example.window_end_index
        others = sorted((op for op in involved if op.id not in shown_ids),
                        key=lambda op: abs(op.call_index - end_index))[:MAX_CLOSE_UP_BARS]
        involved = sorted([op for op in involved if op.id in shown_ids] + others, key=lambda op: op.call_index)
    lanes = _lanes(involved)
    height = 1.8 + 0.55 * len(lanes)
    figure, axes = plt.subplots(figsize=(14, height), dpi=110)
    for op in involved:
        bar_start = max(clock.at(op.call_index), left)
        bar_end = min(clock.at(op.completion_index), right)
        lane = lanes[op.process]
        key = op.id in example.operation_ids() or op.id == example.failing_op.id
        axes.broken_barh([(bar_start, max(bar_end - bar_start, (right - left) / 400))], (lane - 0.35, 0.7),
                         facecolors=OUTCOME_COLORS[op.outcome], alpha=0.95 if key else 0.45,
                         edgecolors=COUNTEREXAMPLE_COLOR if op.id == example.failing_op.id else "#333333",
                         linewidth=2.2 if op.id == example.failing_op.id else 0.5)
        # Label a bar only if the text fits in it (about 5.5 points per character at font size 8);
        # the operations the counterexample is about are always named, above their bar if need be.
        room_pt = (bar_end - bar_start) / (right - left) * 14 * 72 * 0.9
        full = model.describe_op(op)
        middle = (bar_start + bar_end) / 2
        if room_pt >= 5.5 * len(full):
            axes.text(middle, lane, full, ha="center", va="center", fontsize=8, clip_on=True)
        elif key:
            axes.text(middle, lane - 0.37, _short(full, 40), ha="center", va="bottom", fontsize=8,
                      fontweight="bold", clip_on=True)
        elif room_pt >= 5.5 * 6:
            axes.text(middle, lane, _short(full, int(room_pt / 5.5)), ha="center", va="center", fontsize=8,
                      clip_on=True)
    states = ", ".join(model.describe_state(config.state) for config in example.configurations)
    axes.set_title(f"Counterexample{'' if example.key is None else f' on key {example.key!r}'}: nothing explains "
                   f"op {example.failing_op.id} ({_short(model.describe_op(example.failing_op), 40)}); "
                   f"state could be {_short(states, 60)}", fontsize=10)
    axes.set_yticks(range(len(lanes)), [f"process {p}" for p in lanes])
    axes.set_ylim(len(lanes) - 0.5, -0.5)
    axes.set_xlim(left, right)
    axes.set_xlabel(clock.axis_label + "; the failing operation is outlined in red")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _latency_png(ops, clock, intervals, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(12, 5), dpi=110)
    _shade(axes, clock, intervals)
    markers = "os^vD<>pX*"
    fs = sorted({op.f for op in ops})
    scale = 1000 if clock.has_times else 1
    plotted = False
    for outcome in ("ok", "fail", "unknown"):
        for number, f in enumerate(fs):
            chosen = [op for op in ops if op.outcome == outcome and op.f == f and op.completion_index is not None]
            if not chosen:
                continue
            xs = [clock.at(op.call_index) for op in chosen]
            ys = [max((clock.at(op.completion_index) - clock.at(op.call_index)) * scale, 1e-3) for op in chosen]
            axes.scatter(xs, ys, s=18, marker=markers[number % len(markers)], color=OUTCOME_COLORS[outcome],
                         alpha=0.75, label=f"{f} {OUTCOME_LABELS[outcome]}", linewidths=0)
            plotted = True
    if clock.has_times and plotted:
        axes.set_yscale("log")
    axes.set_xlim(0, clock.end or 1)
    axes.set_xlabel(clock.axis_label)
    axes.set_ylabel("latency (ms)" if clock.has_times else "latency (events between invoke and completion)")
    axes.set_title(f"{title}: latency of each operation, by the time it was invoked")
    axes.grid(color="#e5e5e5")
    if plotted or intervals:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _throughput_png(ops, clock, intervals, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(12, 4.5), dpi=110)
    _shade(axes, clock, intervals)
    span = clock.end or 1.0
    # About 15 completions per bin on average: fewer makes a comb, more hides the faults' effect.
    bins = max(10, min(100, len(ops) // 15))
    width = span / bins
    for outcome in ("ok", "fail", "unknown"):
        counts = [0] * bins
        for op in ops:
            if op.outcome == outcome and op.completion_index is not None:
                counts[min(bins - 1, int(clock.at(op.completion_index) / width))] += 1
        if not any(counts):
            continue
        rates = [count / width for count in counts]
        axes.step([width * (i + 0.5) for i in range(bins)], rates, where="mid", color=OUTCOME_COLORS[outcome],
                  linewidth=1.6, label=OUTCOME_LABELS[outcome])
    axes.set_xlim(0, span)
    axes.set_ylim(bottom=0)
    axes.set_xlabel(clock.axis_label)
    unit = "per second" if clock.has_times else "per event"
    axes.set_ylabel(f"completions {unit}")
    axes.set_title(f"{title}: throughput ({bins} bins of {width:.3g} {clock.unit})")
    axes.grid(color="#e5e5e5")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


# --- HTML ------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
pre.summary { background: #f6f6f6; padding: 1em; border-left: 4px solid #888; white-space: pre-wrap; }
pre.summary.bad { border-left-color: #d62020; } pre.summary.good { border-left-color: #3a9a3a; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
svg text { font-size: 11px; font-family: system-ui, sans-serif; }
rect.ok { fill: #4f8fd6; } rect.fail { fill: #f08fb4; } rect.unknown { fill: #f5a431; }
rect.never { opacity: 0.35; }
rect.culprit { stroke: #d62020; stroke-width: 2.5px; }
rect.op:hover { stroke: #000; stroke-width: 1.5px; }
rect.nemesis { fill: #7a7a7a; opacity: 0.15; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border-radius: 3px; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def _page(title: str, summary: str, body: str, images: Sequence[str]) -> str:
    verdict = summary.split("\n", 1)[0]
    tone = "bad" if "NOT" in verdict else "good" if verdict.startswith("VERDICT") and "UNKNOWN" not in verdict else ""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<pre class='summary {tone}'>{html.escape(summary)}</pre>",
    ]
    if images:
        parts.append("<p><a href='timeline.html'>Timeline: every operation, one lane per process</a></p>")
        parts.extend(f"<img src='{html.escape(name)}' alt='{html.escape(name)}'>" for name in images)
    parts.append(body)
    parts.append("</body></html>")
    return "\n".join(parts)


def _timeline_svg(ops, clock, intervals, highlighted, model) -> str:
    lanes = _lanes(ops)
    left, top, lane_height, bar_height = 90, 46, 22, 16
    plot_width = max(1000, min(24000, len(ops) * 7))
    width = left + plot_width + 20
    height = top + lane_height * max(len(lanes), 1) + 30
    span = clock.end or 1.0

    def x(value: float) -> float:
        return left + value / span * plot_width

    out = ["<div class='legend'>"
           + "".join(f"<span style='background:{color}'>{OUTCOME_LABELS[o]}</span>" for o, color in OUTCOME_COLORS.items())
           + "<span style='background:rgba(122,122,122,.3)'>nemesis (fault active)</span>"
           + ("<span style='border:2px solid #d62020'>counterexample</span>" if highlighted else "")
           + f" &nbsp; x axis: {html.escape(clock.axis_label)}; hover a bar for details</div>",
           "<div class='scroll'>",
           f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"]
    for interval in intervals:
        x0, x1 = x(clock.at(interval.start)), x(clock.at(interval.end))
        out.append(f"<rect class='nemesis' x='{x0:.1f}' y='{top - 14}' width='{max(x1 - x0, 1):.1f}' "
                   f"height='{height - top - 16}'><title>{html.escape(interval.label)}</title></rect>")
        out.append(f"<text x='{x0 + 3:.1f}' y='{top - 18}' fill='#555'>{html.escape(_short(interval.label, 30))}</text>")
    from matplotlib.ticker import MaxNLocator

    for tick in MaxNLocator(nbins=max(4, plot_width // 120)).tick_values(0, span):
        if 0 <= tick <= span:
            out.append(f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{top - 4}' y2='{height - 26}' stroke='#eee'/>")
            out.append(f"<text x='{x(tick):.1f}' y='{height - 12}' text-anchor='middle' fill='#666'>{tick:g}</text>")
    for process, lane in lanes.items():
        y = top + lane * lane_height
        out.append(f"<text x='{left - 8}' y='{y + bar_height - 4}' text-anchor='end'>process {html.escape(str(process))}</text>")
    for op in ops:
        start, end = clock.at(op.call_index), clock.at(op.completion_index)
        x0 = x(start)
        bar = max(x(end) - x0, 2.0)
        y = top + lanes[op.process] * lane_height
        classes = ["op", op.outcome]
        if op.completion_index is None:
            classes.append("never")
        if op.id in highlighted:
            classes.append("culprit")
        text = _describe(model, op)
        finished = "never completed" if op.completion_index is None else f"{end - start:.4g} {clock.unit}"
        tooltip = (f"op {op.id}, process {op.process}: {text}\noutcome {op.outcome}"
                   + (f", error {op.error}" if op.error is not None else "")
                   + f"\nevents {op.call_index}..{op.completion_index if op.completion_index is not None else 'end'}; "
                   + f"invoked at {start:.4g} {clock.unit}, {finished}"
                   + ("" if op.key is None else f"\nkey {op.key!r}"))
        out.append(f"<rect class='{' '.join(classes)}' x='{x0:.1f}' y='{y}' width='{bar:.1f}' height='{bar_height}' "
                   f"rx='2'><title>{html.escape(tooltip)}</title></rect>")
        if bar > 46:
            label = _short(text, max(3, int(bar / 6.5)))
            out.append(f"<text x='{x0 + 3:.1f}' y='{y + bar_height - 4}' pointer-events='none'>{html.escape(label)}</text>")
    out.append("</svg></div>")
    return "\n".join(out)
