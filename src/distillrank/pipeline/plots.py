"""The plots every report uses: quality against latency, metric bars by group, metric curves (with
error bands), and estimates with their intervals against a reference."""

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
    labels: set[str] | None = None,
) -> Figure:
    """Quality (``y``) against cost (``x``) for every model, coloured by ``group``, with the Pareto
    frontier (lower cost and higher quality are better) drawn as a step line.

    ``labels``: the names to write next to their points (default: all). Labels are placed greedily so
    that they do not overlap: each one moves up or down from its point until it is clear of those
    already placed (a thin line then joins it to its point)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    groups = sorted({str(p.get(group, "")) for p in points})
    cmap = plt.get_cmap("tab10")
    for gi, g in enumerate(groups):
        pts = [p for p in points if str(p.get(group, "")) == g]
        ax.scatter([float(p[x]) for p in pts], [float(p[y]) for p in pts], color=cmap(gi), label=g, s=40)
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
    ax.autoscale_view()
    shown = [p for p in points if labels is None or str(p[label]) in labels]
    _place_labels(ax, shown, x, y, label)
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


def _place_labels(ax: Any, points: Sequence[Mapping[str, Any]], x: str, y: str, label: str) -> None:
    """Annotate ``points`` with their labels, nudged vertically (in screen points) to avoid overlaps."""
    fig = ax.figure
    scale = fig.dpi / 72.0  # display pixels per typographic point
    placed: list[tuple[float, float, float, float]] = []  # label boxes in display pixels
    order = sorted(points, key=lambda p: (-float(p[y]), float(p[x])))
    for p in order:
        text = str(p[label])
        px, py = ax.transData.transform((float(p[x]), float(p[y])))
        width, height = (4.2 * len(text) + 4) * scale, 9 * scale
        chosen = (4.0, 3.0)
        for step in range(0, 16):
            dy = (3 + 9 * ((step + 1) // 2) * (1 if step % 2 == 0 else -1)) if step else 3
            box = (px + 4 * scale, py + dy * scale, px + 4 * scale + width, py + dy * scale + height)
            if not any(_overlap(box, other) for other in placed):
                chosen = (4.0, float(dy))
                placed.append(box)
                break
        else:
            placed.append((px, py, px + width, py + height))
        moved = abs(chosen[1] - 3.0) > 0.5
        ax.annotate(
            text,
            (float(p[x]), float(p[y])),
            fontsize=7,
            xytext=chosen,
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5} if moved else None,
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def grouped_bars(
    values: Mapping[str, Mapping[str, float]],
    *,
    ylabel: str,
    title: str = "",
    references: Mapping[str, float] | None = None,
) -> Figure:
    """Bars of ``values[group][label]`` (e.g. nDCG@10 by target, one group per student family), with an
    optional dashed reference line per group (e.g. the same student trained on qrels only)."""
    plt = _plt()
    groups = list(values)
    labels = list(dict.fromkeys(lab for g in groups for lab in values[g]))
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(groups) * len(labels) + 2), 4.5))
    width = 0.8 / max(len(labels), 1)
    cmap = plt.get_cmap("tab10")
    all_values = [v for g in groups for v in values[g].values()]
    for li, lab in enumerate(labels):
        xs = [gi + (li - (len(labels) - 1) / 2) * width for gi, g in enumerate(groups) if lab in values[g]]
        ys = [values[g][lab] for g in groups if lab in values[g]]
        ax.bar(xs, ys, width=width * 0.95, color=cmap(li % 10), label=lab)
    for gi, g in enumerate(groups):
        ref = (references or {}).get(g)
        if ref is not None:
            ax.hlines(ref, gi - 0.45, gi + 0.45, colors="black", linestyles="--", linewidth=1)
            all_values.append(ref)
    ax.set_xticks(range(len(groups)), groups)
    lo, hi = min(all_values, default=0.0), max(all_values, default=1.0)
    pad = (hi - lo) * 0.15 or 0.05
    ax.set_ylim(max(0.0, lo - pad), hi + pad)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=min(len(labels), 4))
    ax.set_title(title)
    return fig


def band_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    log_x: bool = False,
    log_y: bool = False,
) -> Figure:
    """One line per series ``name -> (xs, ys, errors)`` with a shaded band ``ys ± errors`` (e.g. a mean
    over seeds and its standard error; ``errors=None``: the line alone). On a log axis the band is cut
    at the smallest positive value shown."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab10")
    positive = [v for _, ys, _ in series.values() for v in ys if v > 0]
    floor = min(positive, default=1.0) / 2
    for i, (name, (xs, ys, errors)) in enumerate(series.items()):
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        color = cmap(i % 10)
        ax.plot(x, y, marker="o" if len(x) <= 25 else None, markersize=3, color=color, label=name)
        if errors is not None:
            e = np.asarray(errors, dtype=float)
            low = np.maximum(y - e, floor) if log_y else y - e
            ax.fill_between(x, low, y + e, color=color, alpha=0.2, linewidth=0)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both" if log_x or log_y else "major")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def intervals(
    estimates: Mapping[str, tuple[float, float, float]],
    *,
    ylabel: str,
    title: str = "",
    reference: float | None = None,
    reference_interval: tuple[float, float] | None = None,
    reference_label: str = "",
) -> Figure:
    """One point per key ``name -> (estimate, low, high)`` with its interval as an error bar (e.g.
    estimators with bootstrap intervals), against a dashed ``reference`` line and its interval as a
    shaded horizontal band; points whose interval misses the reference are drawn in red."""
    plt = _plt()
    names = list(estimates)
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(names) + 2), 4.5))
    if reference_interval is not None:
        ax.axhspan(*reference_interval, color="grey", alpha=0.2, linewidth=0)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label=reference_label or "reference")
    for i, name in enumerate(names):
        est, low, high = estimates[name]
        misses = reference is not None and not low <= reference <= high
        ax.errorbar(
            [i],
            [est],
            yerr=[[max(est - low, 0.0)], [max(high - est, 0.0)]],
            fmt="o",
            color="#c44e52" if misses else "#4c72b0",
            capsize=4,
            markersize=6,
        )
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 6 else 0)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if reference is not None:
        ax.legend(fontsize=8)
    ax.set_title(title)
    return fig
