"""Tables and Markdown for bench results (pure: dicts in, text out).

``result_table`` renders one ``run_workload`` result, a row per request label. ``summarize`` folds
the repeated runs of ``coord bench compare`` into medians per (topology, case, system) and the
coord/ZooKeeper ratios, and ``compare_markdown`` writes the whole document: the machine, the
calibration headroom, the tables, the memory/restart figures, the raw-run count.
"""

from __future__ import annotations

from .results import format_table, median_or_none, ratio

__all__ = ["result_table", "generator_line", "summarize", "summary_table", "memory_table",
           "compare_markdown", "headroom", "METRICS"]

METRICS = ("throughput_ops_s", "p50_ms", "p99_ms", "p999_ms", "max_ms", "server_cpu_s_per_1k_ops")
SYSTEMS = ("coord", "zookeeper")


def result_table(result: dict, markdown: bool = False) -> str:
    headers = ["request", "ops", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
               "server CPU-s/1k ops"]
    rows = []
    labels = dict(result.get("labels", {}))
    items = list(labels.items())
    if len(items) != 1 and result.get("headline", "all") == "all":
        items.append(("all", result))
    for label, f in items:
        cpu = f.get("server_cpu_s_per_1k_ops")
        if len(items) == 1 or label == result.get("headline", "all"):
            cpu = result["server"]["cpu_s_per_1k_ops"]
        rows.append([label, f["ops"], f["throughput_ops_s"], f["p50_ms"], f["p99_ms"],
                     f["p999_ms"], f["max_ms"], f["errors"], cpu])
    return format_table(headers, rows, markdown)


def generator_line(result: dict) -> str:
    g = result["generator"]
    busy = ", ".join(f"{share:.0%}" for share in g["worker_busy_share"])
    line = (f"generator: {g['cpu_s']:.2f} CPU-s (workers busy {busy}; "
            f"{g['worker_cpu_us_per_op'] or 0:.1f} us CPU per op")
    if g.get("ceiling_estimate_ops_s"):
        line += f", ceiling ~{g['ceiling_estimate_ops_s']:,.0f} ops/s on idle cores"
    line += ")"
    waits = g.get("worker_runqueue_wait_share") or []
    if waits:
        line += "; waiting for a CPU " + ", ".join(f"{w:.0%}" for w in waits)
    if g["saturated"]:
        line += "\n** SATURATED: a worker used a whole core; figures are the generator's limit **"
    if g.get("starved"):
        line += ("\n** STARVED: workers waited for a CPU (a busy machine); the generator may have "
                 "been the limit **")
    server = result["server"]
    if server.get("cpu_s") is not None:
        line += f"\nserver: {server['cpu_s']:.2f} CPU-s in the window (pids {server['pids']})"
    return line


def case_name(case: dict) -> str:
    w = case["workload"]
    if w == "watch-fanout":
        return f"{w} {case['connections']}w"
    if w == "session-churn":
        return f"{w} {case['connections']}s"
    return f"{w} {case['connections']}x{case['depth']}"


def summarize(runs: list) -> list:
    """``runs`` [{topology, system, case, repeat, result}] -> one row per (topology, case):
    medians per system and coord/zookeeper ratios, in first-seen order."""
    groups: dict = {}
    for run in runs:
        key = (run["topology"], case_name(run["case"]))
        groups.setdefault(key, {s: [] for s in SYSTEMS})[run["system"]].append(run["result"])
    rows = []
    for (topology, case), by_system in groups.items():
        row = {"topology": topology, "case": case}
        for system in SYSTEMS:
            results = by_system[system]
            medians = {m: median_or_none([_metric(r, m) for r in results]) for m in METRICS}
            medians["runs"] = len(results)
            medians["errors"] = sum(r["errors"] for r in results)
            medians["saturated"] = any(r["generator"]["saturated"] for r in results)
            medians["starved"] = any(r["generator"].get("starved") for r in results)
            medians["connections_lost"] = sum(r.get("connections_lost", 0) for r in results)
            medians["labels"] = _label_medians(results)
            row[system] = medians
        row["ratio"] = {m: ratio(row["coord"][m], row["zookeeper"][m]) for m in METRICS}
        rows.append(row)
    return rows


def _metric(result: dict, metric: str):
    if metric == "server_cpu_s_per_1k_ops":
        return result["server"]["cpu_s_per_1k_ops"]
    return result.get(metric)


def _label_medians(results: list) -> dict:
    labels: dict = {}
    for r in results:
        for label, f in r.get("labels", {}).items():
            labels.setdefault(label, []).append(f)
    return {label: {m: median_or_none([f.get(m) for f in fs]) for m in METRICS[:-1]}
            for label, fs in labels.items()}


def summary_table(rows: list, markdown: bool = False) -> str:
    headers = ["topology", "case", "coord ops/s", "ZK ops/s", "ops/s ratio", "coord p50",
               "ZK p50", "p50 ratio", "coord p99", "ZK p99", "p99 ratio", "coord CPU/1k",
               "ZK CPU/1k", "errors", "notes"]
    table = []
    for row in rows:
        c, z, r = row["coord"], row["zookeeper"], row["ratio"]
        notes = []
        if c["saturated"] or z["saturated"]:
            notes.append("generator saturated")
        if c.get("starved") or z.get("starved"):
            notes.append("generator starved")
        for system, label in (("coord", "coord"), ("zookeeper", "ZK")):
            if row[system].get("connections_lost"):
                notes.append(f"{label} dropped {row[system]['connections_lost']} connections")
            if row[system]["runs"] == 0:
                notes.append(f"no {label} run")
        table.append([row["topology"], row["case"], c["throughput_ops_s"], z["throughput_ops_s"],
                      _x(r["throughput_ops_s"]), c["p50_ms"], z["p50_ms"], _x(r["p50_ms"]),
                      c["p99_ms"], z["p99_ms"], _x(r["p99_ms"]), c["server_cpu_s_per_1k_ops"],
                      z["server_cpu_s_per_1k_ops"], f"{c['errors']}/{z['errors']}",
                      ", ".join(notes)])
    return format_table(headers, table, markdown)


def _x(value):
    return None if value is None else f"{value:.2f}x"


def _mib(value):
    return None if value is None else value / (1 << 20)


def memory_table(memory: list, markdown: bool = False) -> str:
    headers = ["znodes", "system", "create ops/s", "RSS serving MiB", "RSS after restart MiB",
               "data dir MiB", "snapshot MiB", "start (empty) s", "restart to serving s"]
    rows = [[m["znodes"], m["system"], m.get("populate_ops_s"), _mib(m.get("rss_serving")),
             _mib(m.get("rss_after_restart")), _mib(m.get("data_dir_bytes")),
             _mib(m.get("snapshot_bytes")), m.get("start_empty_s"), m.get("restart_s")]
            for m in memory]
    by_size: dict = {}
    for m in memory:
        by_size.setdefault(m["znodes"], {})[m["system"]] = m
    for size, pair in by_size.items():
        if set(pair) >= set(SYSTEMS):
            c, z = pair["coord"], pair["zookeeper"]
            rows.append([size, "coord/ZK", _x(ratio(c.get("populate_ops_s"), z.get("populate_ops_s"))),
                         _x(ratio(c.get("rss_serving"), z.get("rss_serving"))),
                         _x(ratio(c.get("rss_after_restart"), z.get("rss_after_restart"))),
                         _x(ratio(c.get("data_dir_bytes"), z.get("data_dir_bytes"))),
                         _x(ratio(c.get("snapshot_bytes"), z.get("snapshot_bytes"))),
                         _x(ratio(c.get("start_empty_s"), z.get("start_empty_s"))),
                         _x(ratio(c.get("restart_s"), z.get("restart_s")))])
    return format_table(headers, rows, markdown)


def headroom(calibration: dict | None, summary: list) -> dict:
    """The calibration ceiling against the fastest median throughput the summary reports
    (watch-fanout's rounds/s is not a request rate and is left out)."""
    fastest = max((row[system]["throughput_ops_s"] or 0 for row in summary for system in SYSTEMS
                   if not row["case"].startswith("watch-fanout")), default=0) or None
    ceiling = calibration["throughput_ops_s"] if calibration else None
    return {"calibration_ops_s": ceiling, "fastest_server_ops_s": fastest,
            "headroom": ratio(ceiling, fastest)}


def compare_markdown(doc: dict) -> str:
    m = doc["machine"]
    h = doc["headroom"]
    lines = [f"# coord vs Apache ZooKeeper: {doc['started']}", ""]
    if doc.get("note"):
        lines += [f"**{doc['note']}**", ""]
    lines += [
        "## Machine", "",
        f"- {m['cores']} cores, {m['cpu_model']}, {m['memory']} memory",
        f"- disk: {_disk_text(m['disk'])}",
        f"- kernel {m['kernel']}, Python {m['python']}, {m['java']}",
        f"- coord {m['coord']}, ZooKeeper {m['zookeeper']} (Debian package)",
        f"- load average at start {doc['load_average_start']}, at end {doc['load_average_end']}",
        "",
        "## Settings", "",
        f"- {doc['settings']}",
        f"- took {doc['elapsed_s']:.0f} s",
        "",
        "## Generator headroom", "",
        f"- calibration (trivial responder, settings of the first case, median of "
        f"{len(doc.get('calibrations') or [])} rounds): "
        f"{_fmt(h['calibration_ops_s'])} ops/s; fastest server result: "
        f"{_fmt(h['fastest_server_ops_s'])} ops/s; headroom {_fmt(h['headroom'], 2)}x "
        "(>= 2x means the generator is not what limits the figures)",
        "",
        "## Throughput and latency (medians of the repeats; ratios are coord / ZooKeeper)", "",
        "Throughput ratio > 1: coord faster. Latency ratio < 1: coord faster. CPU/1k: server "
        "CPU-seconds per 1,000 operations (all members).", "",
        summary_table(doc["summary"], markdown=True), "",
    ]
    per_label = [(row, label) for row in doc["summary"] for label in row["coord"]["labels"]
                 if len(row["coord"]["labels"]) > 1]
    if per_label:
        headers = ["topology", "case", "request", "coord ops/s", "ZK ops/s", "coord p50",
                   "ZK p50", "coord p99", "ZK p99"]
        rows = []
        for row, label in per_label:
            c = row["coord"]["labels"].get(label, {})
            z = row["zookeeper"]["labels"].get(label, {})
            rows.append([row["topology"], row["case"], label, c.get("throughput_ops_s"),
                         z.get("throughput_ops_s"), c.get("p50_ms"), z.get("p50_ms"),
                         c.get("p99_ms"), z.get("p99_ms")])
        lines += ["### By request type", "", format_table(headers, rows, markdown=True), ""]
    if doc.get("memory"):
        lines += ["## Memory and restart (standalone)", "",
                  "RSS of the server process(es) from /proc; data dir: bytes of its files "
                  "(ZooKeeper preallocates its transaction log in 64 MiB steps); snapshot: the "
                  "newest snapshot file after the restart ('-': none yet; coord snapshots every "
                  "100,000 transactions by default and replays its log at start).", "",
                  memory_table(doc["memory"], markdown=True), ""]
    if doc.get("failures"):
        lines += ["## Failed runs", "", "Left out of the medians; the JSON file has the servers' "
                  "log tails.", ""]
        lines += [f"- {f['topology']} {f['system']} {case_name(f['case'])} (repeat "
                  f"{f['repeat'] + 1}): {f['error'].splitlines()[0]}" for f in doc["failures"]]
        lines.append("")
    lines += [f"Raw results: {doc['runs_count']} runs in the JSON file next to this one."]
    return "\n".join(lines) + "\n"


def _disk_text(disk: dict) -> str:
    kind = {True: "rotational", False: "non-rotational"}.get(disk.get("rotational"), "")
    return (f"{disk.get('fstype', '?')} on {disk.get('device', '?')}"
            f"{' (' + kind + ')' if kind else ''}, servers' data under {disk.get('path')}")


def _fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"
