"""The plots every report uses: quality against latency, metric bars by group, and metric curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frontier(
    points: Sequence[Mapping[str, Any]],
    *,
    x: str = "latency_p50_ms",
    y: str = "nDCG@10",
    label: str = "name",
    group: str = "role",
    log_x: bool = True,
    title: str = "",
) -> Figure:
    """Quality (``y``) against cost (``x``) for every model, coloured by ``group``, with the Pareto
    frontier (lower cost and higher quality are better) drawn as a step line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    groups = sorted({str(p.get(group, "")) for p in points})
    cmap = plt.get_cmap("tab10")
    for gi, g in enumerate(groups):
        pts = [p for p in points if str(p.get(group, "")) == g]
        ax.scatter([float(p[x]) for p in pts], [float(p[y]) for p in pts], color=cmap(gi), label=g, s=40)
        for p in pts:
            ax.annotate(
                str(p[label]),
                (float(p[x]), float(p[y])),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
    pareto, best = [], float("-inf")
    for p in sorted(points, key=lambda p: float(p[x])):
        if float(p[y]) > best:
            best = float(p[y])
            pareto.append(p)
    if len(pareto) > 1:
        ax.step(
            [float(p[x]) for p in pareto],
            [float(p[y]) for p in pareto],
            where="post",
            color="grey",
            alpha=0.5,
            linestyle="--",
            label="Pareto frontier",
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{y} against {x}")
    return fig


def bars(
    values: Mapping[str, float],
    *,
    ylabel: str,
    title: str = "",
    reference: float | None = None,
    reference_label: str = "",
) -> Figure:
    """One bar per key (e.g. quality by distillation loss), with an optional horizontal reference line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(values) + 2), 4))
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    if reference is not None:
        ax.axhline(reference, color="#c44e52", linestyle="--", label=reference_label or "reference")
        ax.legend(fontsize=8)
    lo = min([*values.values(), reference if reference is not None else float("inf")])
    hi = max([*values.values(), reference if reference is not None else float("-inf")])
    pad = (hi - lo) * 0.15 or 0.05
    ax.set_ylim(max(0.0, lo - pad), hi + pad)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    return fig


def curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    log_x: bool = False,
    reference: float | None = None,
    reference_label: str = "",
) -> Figure:
    """One line per series ``name -> (xs, ys)`` (e.g. nDCG@10 against sessions, or against temperature)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=name)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label=reference_label or "reference")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig
