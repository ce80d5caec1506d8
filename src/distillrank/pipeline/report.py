"""Reports: ``report.md``, a self-contained ``report.html`` (plots embedded as PNG data URIs) and
``metrics.json``, written atomically side by side.

A :class:`Report` is built from sections — headings, paragraphs, tables (lists of dicts) and matplotlib
figures — and rendered to both formats, so the Markdown and the HTML always say the same thing. Figures
are saved as PNG files next to ``report.md`` (Markdown links them) and embedded in the HTML (which needs
nothing else to be opened, mailed or attached to a ticket).

Example:
    >>> import tempfile
    >>> r = Report("BM25 on SciFact")
    >>> r.table([{"model": "bm25", "nDCG@10": 0.6791}], caption="test split")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = r.write(d, metrics={"models": {"bm25": {"nDCG@10": 0.6791}}})
    ...     sorted(p.name for p in paths)
    ['metrics.json', 'report.html', 'report.md']
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillrank.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1f2328;line-height:1.5}
h1{border-bottom:2px solid #d0d7de;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #d0d7de;padding:4px 10px}
th{background:#f6f8fa;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fbfcfd}figure{margin:1.5em 0}figcaption{color:#57606a;font-size:14px}
img{max-width:100%}.caption{color:#57606a;font-size:14px}code{background:#f6f8fa;padding:0 4px}
"""


def _fmt(v: Any, digits: int = 4, spec: str | None = None) -> str:
    """A cell's text: ``spec`` (a format spec such as ``",.0f"``) for a finite number when given, else
    integers with thousands separators, floats with ``digits`` decimals (3 significant digits when
    very large or very small), NaN as a dash."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if spec is not None and isinstance(v, int | float) and math.isfinite(v):
        return format(v, spec)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 10**-digits):
            return f"{v:.3g}"
        return f"{v:.{digits}f}"
    return str(v)


@dataclass
class _Figure:
    name: str
    png: bytes
    caption: str


@dataclass
class Report:
    """A report under construction; sections render in the order they are added."""

    title: str
    sections: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.sections.append(("h2", text))

    def text(self, text: str) -> None:
        """A paragraph (Markdown inline code with backticks is kept as ``<code>`` in HTML)."""
        self.sections.append(("p", text))

    def table(
        self,
        rows: list[dict[str, Any]],
        caption: str = "",
        digits: int = 4,
        formats: dict[str, str] | None = None,
    ) -> None:
        """A table from a list of dicts (columns: the union of keys, in first-seen order); ``formats``
        gives a column's numbers a format spec of their own (``{"docs/s": ",.0f"}``), the other
        numbers get ``digits`` decimals."""
        self.sections.append(("table", (rows, caption, digits, formats or {})))

    def figure(self, fig: Figure, name: str, caption: str = "") -> None:
        """A matplotlib figure, saved as ``name.png`` and embedded in the HTML; the figure is closed."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.sections.append(("figure", _Figure(name, buf.getvalue(), caption)))

    # ------------------------------------------------------------------ rendering
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, payload in self.sections:
            if kind == "h2":
                out += [f"## {payload}", ""]
            elif kind == "p":
                out += [payload, ""]
            elif kind == "table":
                rows, caption, digits, formats = payload
                cols = _columns(rows)
                if caption:
                    out += [f"*{caption}*", ""]
                out.append("| " + " | ".join(cols) + " |")
                out.append("|" + "|".join("---:" if _numeric(rows, c) else "---" for c in cols) + "|")
                for r in rows:
                    out.append("| " + " | ".join(_fmt(r.get(c), digits, formats.get(c)) for c in cols) + " |")
                out.append("")
            elif kind == "figure":
                out += [f"![{payload.caption or payload.name}]({payload.name}.png)", ""]
                if payload.caption:
                    out += [f"*{payload.caption}*", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, payload in self.sections:
            if kind == "h2":
                body.append(f"<h2>{html.escape(payload)}</h2>")
            elif kind == "p":
                body.append(f"<p>{_inline(payload)}</p>")
            elif kind == "table":
                rows, caption, digits, formats = payload
                cols = _columns(rows)
                parts = ["<table>"]
                if caption:
                    parts.append(f"<caption class='caption'>{_inline(caption)}</caption>")
                parts.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
                for r in rows:
                    cells = []
                    for c in cols:
                        v = r.get(c)
                        cls = " class='num'" if isinstance(v, int | float) and not isinstance(v, bool) else ""
                        cells.append(f"<td{cls}>{html.escape(_fmt(v, digits, formats.get(c)))}</td>")
                    parts.append("<tr>" + "".join(cells) + "</tr>")
                parts.append("</table>")
                body.append("".join(parts))
            elif kind == "figure":
                data = base64.b64encode(payload.png).decode("ascii")
                cap = f"<figcaption>{_inline(payload.caption)}</figcaption>" if payload.caption else ""
                body.append(
                    f"<figure><img alt='{html.escape(payload.name)}' src='data:image/png;base64,{data}'>"
                    f"{cap}</figure>"
                )
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body)
            + "</body></html>"
        )

    def write(self, folder: str | Path, metrics: dict[str, Any] | None = None) -> list[Path]:
        """Write ``report.md`` (+ PNGs), ``report.html`` and, when given, ``metrics.json``; atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for kind, payload in self.sections:
            if kind == "figure":
                with atomic_write(folder / f"{payload.name}.png", "wb") as f:
                    f.write(payload.png)
        for name, text in (("report.md", self.to_markdown()), ("report.html", self.to_html())):
            with atomic_write(folder / name) as f:
                f.write(text)
            written.append(folder / name)
        if metrics is not None:
            with atomic_write(folder / "metrics.json") as f:
                json.dump(metrics, f, indent=2, allow_nan=False, default=_json_default)
            written.append(folder / "metrics.json")
        return written


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def _numeric(rows: list[dict[str, Any]], col: str) -> bool:
    vals = [r.get(col) for r in rows if r.get(col) is not None]
    return bool(vals) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals)


def _inline(text: str) -> str:
    """Escape HTML, turning Markdown ``code`` spans and **bold** into tags."""
    import re

    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
