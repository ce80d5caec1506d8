"""Open Bandit Dataset (ZOZOTOWN) logs: ``{random,bts}/{all,men,women}/<campaign>.csv``.

Columns of a log: an unnamed index, ``timestamp``, ``item_id``, ``position`` (1-3), ``click``,
``propensity_score`` (the logging policy's probability of showing that item at that position),
``user_feature_0..3`` (hashed user context) and ``user-item_affinity_<item>``. ``item_context.csv``
beside each log describes the items.

Each row is one impression and becomes one session of a :class:`ClickLog` with one shown item:
``session_id`` is the row number (0-based), ``qid`` a stable 16-hex-digit digest of the four user
features (the user context plays the query's part), ``docno`` the item id, ``position``, ``click`` and
``propensity`` as logged; ``timestamp`` (UTC datetimes) and the user and affinity features are kept as
extra columns.

Two logging policies collected the data: ``random`` (uniform: every propensity is 1/n_items) and
``bts`` (Bernoulli Thompson sampling). The standard off-policy-evaluation check estimates the bts
policy's click-through rate from the random logs and compares it with the bts logs' own mean click
rate (the ground truth), as in Saito et al., "Open Bandit Dataset and Pipeline" (NeurIPS 2021 D&B).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.data.dataset import SplitDataset
from distillrank.errors import DataFormatError, DatasetNotFoundError
from distillrank.io import open_text

__all__ = ["CAMPAIGNS", "POLICIES", "locate_obd", "read_obd", "read_obd_csv", "read_obd_item_context"]

CAMPAIGNS = ("all", "men", "women")
POLICIES = ("random", "bts")
_REQUIRED = ("item_id", "position", "click", "propensity_score")
_USER_FEATURES = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")


def _read_csv(path: Path) -> pd.DataFrame:
    with open_text(path) as f:
        header = f.readline()
    first = header.split(",", 1)[0].strip()
    return pd.read_csv(path, index_col=0 if first == "" else None)


def _show(value: object) -> str:
    """A value as the file has it: strings quoted, numbers plain (no numpy reprs)."""
    if isinstance(value, str):
        return repr(value)
    item = getattr(value, "item", None)
    return str(item() if callable(item) else value)


def _numeric(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    num = pd.to_numeric(df[col], errors="coerce")
    bad = num.isna().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        if pd.isna(df[col].iloc[r]):
            raise DataFormatError(path, r + 2, f"empty {col}")
        raise DataFormatError(path, r + 2, f"{col} {_show(df[col].iloc[r])} is not a number")
    return num.to_numpy(dtype=np.float64)


def _check_values(df: pd.DataFrame, col: str, bad: np.ndarray, problem: str, path: Path) -> None:
    """Reject the first row where ``bad`` holds: ``path:line: col value problem`` (the header is line 1)."""
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(path, r + 2, f"{col} {_show(df[col].iloc[r])} {problem}")


def _user_context_id(df: pd.DataFrame) -> np.ndarray:
    cols = [c for c in _USER_FEATURES if c in df.columns]
    if not cols:
        return np.full(len(df), "", dtype=object)
    joined = df[cols[0]].astype(str)
    for c in cols[1:]:
        joined = joined + "|" + df[c].astype(str)
    cache: dict[str, str] = {}
    out = []
    for s in joined.tolist():
        h = cache.get(s)
        if h is None:
            h = cache[s] = hashlib.blake2b(s.encode(), digest_size=8).hexdigest()
        out.append(h)
    return np.asarray(out, dtype=object)


def read_obd_csv(path: str | Path) -> ClickLog:
    """Read one Open Bandit Dataset log CSV into a :class:`ClickLog` (one session per impression).

    Raises:
        DataFormatError: ``path:line: problem`` for a missing column (line 1), a propensity outside
            (0, 1], a position below 1, a click other than 0/1, an empty or non-numeric value in those
            columns, or a timestamp that is not an ISO 8601 date.
    """
    path = Path(path)
    raw = _read_csv(path)
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise DataFormatError(path, 1, f"missing column(s) {', '.join(missing)} in the header")
    prop = _numeric(raw, "propensity_score", path)
    pos = _numeric(raw, "position", path)
    click = _numeric(raw, "click", path)
    _check_values(raw, "propensity_score", ~((prop > 0) & (prop <= 1)), "is not in (0, 1]", path)
    _check_values(raw, "position", (pos < 1) | (pos != np.floor(pos)), "is not an integer >= 1", path)
    _check_values(raw, "click", ~np.isin(click, (0, 1)), "is not 0 or 1", path)
    items = raw["item_id"]
    if items.isna().any():
        r = int(np.flatnonzero(items.isna().to_numpy())[0])
        raise DataFormatError(path, r + 2, "empty item_id")
    df = pd.DataFrame(
        {
            "session_id": np.arange(len(raw), dtype=np.int64),
            "qid": pd.array(_user_context_id(raw), dtype=str),
            "position": pos.astype(np.int64),
            "docno": items.astype(str).to_numpy(),
            "click": click.astype(np.int64),
            "propensity": prop,
        }
    )
    if "timestamp" in raw.columns:
        times = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601", errors="coerce")
        bad = (times.isna() & raw["timestamp"].notna()).to_numpy()
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataFormatError(
                path, r + 2, f"timestamp {_show(raw['timestamp'].iloc[r])} is not an ISO 8601 date"
            )
        df["timestamp"] = pd.DatetimeIndex(times)
    for c in raw.columns:
        if c not in _REQUIRED and c != "timestamp":
            df[c] = raw[c].to_numpy()
    return ClickLog(df, source=str(path))


def locate_obd(folder: str | Path | None = None) -> Path:
    """The folder to read Open Bandit Dataset logs from: ``folder`` itself, or the dataset under it when
    ``folder`` is a data folder (holding ``clicks/open-bandit-dataset`` or ``open-bandit-dataset``, as
    the catalogue lays it out); ``None`` is the default data folder (``$DISTILLRANK_DATA``, else
    ``~/.cache/distillrank``)."""
    if folder is None:
        from distillrank.data.catalogue import default_data_dir

        folder = default_data_dir()
    root = Path(folder).expanduser()
    for rel in ("clicks/open-bandit-dataset", "open-bandit-dataset"):
        if (root / rel).is_dir():
            return root / rel
    return root


def read_obd(
    folder: str | Path | None = None, campaign: str = "all", name: str | None = None
) -> SplitDataset[ClickLog]:
    """Read the logs of one campaign (``all``, ``men`` or ``women``) with one split per policy.

    ``folder`` may be the dataset root (holding ``random/`` and ``bts/``: splits ``random`` and
    ``bts``), one policy's folder (``random/``: one split named after it), one campaign folder
    (``random/all/``), or a data folder holding the dataset (:func:`locate_obd`; ``None``: the default
    data folder).
    """
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign must be one of {', '.join(CAMPAIGNS)}, not {campaign!r}")
    folder = locate_obd(folder)
    files: dict[str, Path] = {}
    for policy in POLICIES:
        f = folder / policy / campaign / f"{campaign}.csv"
        if f.is_file():
            files[policy] = f
    if not files:
        if (f := folder / campaign / f"{campaign}.csv").is_file():
            files[folder.name] = f
        elif (f := folder / f"{campaign}.csv").is_file():
            files[folder.parent.name or folder.name] = f
    if not files:
        raise DatasetNotFoundError(
            f"{folder}: no Open Bandit Dataset logs for campaign {campaign!r} (expected "
            f"{{random,bts}}/{campaign}/{campaign}.csv under the dataset root)"
        )
    splits = {policy: read_obd_csv(f) for policy, f in files.items()}
    return SplitDataset(name or f"obd-{campaign}", splits, source=str(folder))


def read_obd_item_context(path: str | Path) -> pd.DataFrame:
    """Read ``item_context.csv`` (or the one in folder ``path``): ``item_id`` (str) and item features."""
    path = Path(path)
    if path.is_dir():
        path = path / "item_context.csv"
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no item_context.csv")
    df = _read_csv(path)
    if "item_id" not in df.columns:
        raise DataFormatError(path, 1, "missing column item_id in the header")
    df = df.reset_index(drop=True)
    df["item_id"] = df["item_id"].astype(str)
    return df
