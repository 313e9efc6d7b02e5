"""The compare plot: coord/ZooKeeper ratios per case (matplotlib, optional)."""

from __future__ import annotations

__all__ = ["plot_compare"]


def plot_compare(doc: dict, path: str) -> str | None:
    """Write a bar chart of throughput and p50 ratios; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = doc["summary"]
    if not rows:
        return None
    names = [f"{r['case']}\n({'standalone' if r['topology'] == 'standalone' else r['topology'] + ' members'})"
             for r in rows]
    # Missing ratios (a system with no successful run) are drawn as 1: no bar either way.
    thr = [r["ratio"]["throughput_ops_s"] or 1.0 for r in rows]
    p50 = [r["ratio"]["p50_ms"] or 1.0 for r in rows]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, len(rows) * 0.9), 8), sharex=True)
    xs = range(len(rows))
    # Bars grow from 1 (parity), up or down.
    axes[0].bar(xs, [v - 1.0 for v in thr], bottom=1.0, color="tab:blue")
    axes[0].set_ylabel("throughput coord / ZK\n(> 1: coord faster)")
    axes[1].bar(xs, [v - 1.0 for v in p50], bottom=1.0, color="tab:orange")
    axes[1].set_ylabel("p50 latency coord / ZK\n(< 1: coord faster)")
    for ax in axes:
        ax.set_yscale("log", base=2)  # 2x faster and 2x slower are the same distance from 1
        ax.axhline(1.0, color="black", linewidth=0.8)
    axes[1].set_xticks(list(xs))
    axes[1].set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    fig.suptitle(f"coord vs ZooKeeper, {doc['started']}, medians of {doc['options']['repeats']} "
                 "repeats")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
