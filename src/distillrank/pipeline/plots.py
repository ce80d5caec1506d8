"""The plots every report uses: quality against latency, metric bars by group, metric curves (with
error bands), and estimates with their intervals against a reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from distillrank.pipeline.config import FAMILIES, OPTIONAL_FAMILIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure


PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
)  # fmt: skip
"""matplotlib's tab10, the colours of every series."""

_FIXED: dict[str, str] = {
    "teacher": "#000000",
    "teacher_component": "#555555",
    "baseline": "#999999",
    **dict(zip((*FAMILIES, *OPTIONAL_FAMILIES), PALETTE, strict=False)),
}
"""Models that keep one colour in every plot of every report (student families by family name)."""


def color_of(name: str) -> str:
    """The colour of a series or group, the same in every plot: the reference models in black and greys,
    a student family (``lgbm``, ``student: lgbm``, ``lgbm/soft-T2``) in its own colour, any other name
    in a palette colour chosen by a stable hash of the name."""
    import zlib

    if (fixed := _fixed_key(name)) is not None:
        return _FIXED[fixed]
    return PALETTE[zlib.crc32(name.removeprefix("student: ").encode()) % len(PALETTE)]


def _fixed_key(name: str) -> str | None:
    """The key of :data:`_FIXED` that gives ``name`` its colour (``student: lgbm``, ``lgbm/soft-T2``:
    ``lgbm``), or None when its colour is hashed."""
    head = name.removeprefix("student: ").split("/", 1)[0]
    return head if head in _FIXED else None


def colors_of(names: Sequence[str]) -> dict[str, str]:
    """:func:`color_of` for the series of one plot, with no two sharing a colour: a hashed colour already
    taken in the plot moves to the next free one of :data:`PALETTE` (fixed colours never move)."""
    out: dict[str, str] = {}
    fixed = {n: color_of(n) for n in names if _fixed_key(n) is not None}
    used = set(fixed.values())
    for name in names:
        if name in fixed:
            out[name] = fixed[name]
            continue
        colour = color_of(name)
        if colour in used:
            start = PALETTE.index(colour)
            free = [PALETTE[(start + i) % len(PALETTE)] for i in range(1, len(PALETTE))]
            colour = next((c for c in free if c not in used), colour)
        out[name] = colour
        used.add(colour)
    return out


def _legend_outside(ax: Any, **kwargs: Any) -> None:
    """The legend to the right of the axes, where it can hide no data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def _reference_lines(ax: Any, lines: Sequence[tuple[float, str]], *, vertical: bool = False) -> None:
    """Dotted reference lines (a target such as 0.97x the teacher), each in the legend (horizontal ones
    red, vertical ones blue, further ones green)."""
    colours = ("#4c72b0", "#55a868", "#c44e52") if vertical else ("#c44e52", "#55a868", "#4c72b0")
    for i, (value, text) in enumerate(lines):
        style = {"color": colours[i % 3], "linestyle": ":", "linewidth": 1.2}
        (ax.axvline if vertical else ax.axhline)(value, label=text, **style)


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
    xlabel: str | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    vlines: Sequence[tuple[float, str]] = (),
) -> Figure:
    """Quality (``y``) against cost (``x``) for every model, coloured by ``group`` (:func:`color_of`),
    with the Pareto frontier (lower cost and higher quality are better) drawn as a step line.

    ``labels``: the names to write next to their points (default: all). Labels are placed greedily so
    that they do not overlap: each one moves up or down from its point until it is clear of those
    already placed (a thin line then joins it to its point). ``hlines``/``vlines``: ``(value, text)``
    reference lines (targets), dotted, in the legend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    groups = sorted({str(p.get(group, "")) for p in points})
    colours = colors_of(groups)
    for g in groups:
        pts = [p for p in points if str(p.get(group, "")) == g]
        xs, ys = [float(p[x]) for p in pts], [float(p[y]) for p in pts]
        ax.scatter(xs, ys, color=colours[g], label=g, s=40, zorder=3)
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
    costs = [float(p[x]) for p in points if float(p[x]) > 0]
    log_x = log_x and bool(costs) and max(costs) / min(costs) >= 10  # a log axis for a span of decades only
    if log_x:
        ax.set_xscale("log")
    _reference_lines(ax, hlines)
    _reference_lines(ax, vlines, vertical=True)
    ax.autoscale_view()
    shown = [p for p in points if labels is None or str(p[label]) in labels]
    _place_labels(ax, shown, x, y, label)
    default_x = {
        "latency_p50_ms": "median latency per query (ms)",
        "ms_per_user": "inference time per user, whole catalogue (ms)",
    }.get(x, x)
    ax.set_xlabel((xlabel or default_x) + (" — log scale" if log_x else ""))
    ax.set_ylabel(y)
    ax.grid(alpha=0.3, which="both" if log_x else "major")
    _legend_outside(ax)
    ax.set_title(title or f"{y} against {x}")
    return fig


def bars(
    values: Mapping[str, float],
    *,
    ylabel: str,
    title: str = "",
    reference: float | None = None,
    reference_label: str = "",
    hlines: Sequence[tuple[float, str]] = (),
) -> Figure:
    """One bar per key (e.g. quality by distillation loss), with an optional horizontal reference line
    (dashed) and dotted ``(value, text)`` targets."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(values) + 2), 4))
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    if reference is not None:
        ax.axhline(reference, color="#c44e52", linestyle="--", label=reference_label or "reference")
    _reference_lines(ax, hlines)
    if reference is not None or hlines:
        _legend_outside(ax)
    marks = [*([reference] if reference is not None else []), *(v for v, _ in hlines)]
    lo = min([*values.values(), *marks])
    hi = max([*values.values(), *marks])
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
    hlines: Sequence[tuple[float, str]] = (),
) -> Figure:
    """One line per series ``name -> (xs, ys)`` (e.g. nDCG@10 against sessions, or against temperature),
    each in its :func:`color_of` colour; ``reference`` a dashed grey line (a starting point), ``hlines``
    dotted ``(value, text)`` targets."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = colors_of(list(series))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=name, color=colours[name])
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label=reference_label or "reference")
    _reference_lines(ax, hlines)
    if log_x:
        ax.set_xscale("log")
        xs_all = sorted({float(v) for xs, _ in series.values() for v in xs})
        if 0 < len(xs_all) <= 12:  # a few settings (temperatures): ticks at them, written plainly
            ax.set_xticks(xs_all, [f"{v:g}" for v in xs_all])
            ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    ax.set_title(title)
    return fig


def _place_labels(ax: Any, points: Sequence[Mapping[str, Any]], x: str, y: str, label: str) -> None:
    """Annotate ``points`` with their labels, nudged vertically (in screen points) to avoid overlaps."""
    fig = ax.figure
    scale = fig.dpi / 72.0  # display pixels per typographic point
    placed: list[tuple[float, float, float, float]] = []  # label boxes in display pixels
    order = sorted(points, key=lambda p: (-float(p[y]), float(p[x])))
    extent = ax.get_window_extent()
    right_edge = extent.x1
    for p in order:
        text = str(p[label])
        px, py = ax.transData.transform((float(p[x]), float(p[y])))
        width, height = (4.2 * len(text) + 4) * scale, 9 * scale
        left = px + (4 * scale + width) > right_edge  # no room on the right: write it to the left
        dx = -4.0 if left else 4.0
        x0 = px - 4 * scale - width if left else px + 4 * scale
        chosen = (dx, 3.0)
        for step in range(0, 16):
            dy = (3 + 9 * ((step + 1) // 2) * (1 if step % 2 == 0 else -1)) if step else 3
            box = (x0, py + dy * scale, x0 + width, py + dy * scale + height)
            inside = extent.y0 <= box[1] and box[3] <= extent.y1  # not onto the tick labels or the title
            if inside and not any(_overlap(box, other) for other in placed):
                chosen = (dx, float(dy))
                placed.append(box)
                break
        else:
            placed.append((x0, py, x0 + width, py + height))
        moved = abs(chosen[1] - 3.0) > 0.5
        ax.annotate(
            text,
            (float(p[x]), float(p[y])),
            fontsize=7,
            xytext=chosen,
            textcoords="offset points",
            ha="right" if left else "left",
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
    all_values = [v for g in groups for v in values[g].values()]
    for li, lab in enumerate(labels):
        xs = [gi + (li - (len(labels) - 1) / 2) * width for gi, g in enumerate(groups) if lab in values[g]]
        ys = [values[g][lab] for g in groups if lab in values[g]]
        ax.bar(xs, ys, width=width * 0.95, color=PALETTE[li % len(PALETTE)], label=lab)
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
    _legend_outside(ax)
    if lo - pad > 0:  # bars that do not start at 0 exaggerate differences: say so
        ax.annotate("y axis does not start at 0", (0.0, 1.0), xycoords="axes fraction", xytext=(2, 4),
                    textcoords="offset points", fontsize=7, color="grey")  # fmt: skip
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
    hlines: Sequence[tuple[float, str]] = (),
) -> Figure:
    """One line per series ``name -> (xs, ys, errors)`` with a shaded band ``ys ± errors`` (e.g. a mean
    over seeds and its standard error; ``errors=None``: the line alone). On a log axis the band is cut
    at the smallest positive value shown."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    positive = [v for _, ys, _ in series.values() for v in ys if v > 0]
    floor = min(positive, default=1.0) / 2
    colours = colors_of(list(series))
    for name, (xs, ys, errors) in series.items():
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        color = colours[name]
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
    _reference_lines(ax, hlines)
    ax.grid(alpha=0.3, which="both" if log_x or log_y else "major")
    _legend_outside(ax)
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
