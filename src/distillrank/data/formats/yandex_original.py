"""The Yandex Relevance Prediction Challenge (WSCD 2011) click log in its original layout.

Source: the challenge's data description (Yandex, "Relevance Prediction Challenge", WSCD 2011 workshop at
WSDM 2011; ``http://imat-relpred.yandex.ru/en/datasets``) and PyClick's ``YandexRelPredChallengeParser``
(``pyclick/utils/YandexRelPredChallengeParser.py``, Markov et al.), which reads it. The file is
tab-separated, one action per line:

* query action: ``SessionID<TAB>TimePassed<TAB>Q<TAB>QueryID<TAB>RegionID<TAB>URL1<TAB>...<TAB>URL10``
* click action: ``SessionID<TAB>TimePassed<TAB>C<TAB>URLID``

Each query action is one search session (one result page) of the :class:`ClickLog`: its session id is
``"<SessionID>_<n>"`` (``n`` counts the earlier query actions of that SessionID from 0), ``qid`` the
QueryID, ``docno`` the URL ids in list order at positions 1..n. A click action marks a result of the
latest query action of its SessionID, as PyClick does: the same URL clicked twice counts once, and a
click on a URL that is not in that latest result list (the user clicked a result of an earlier query
of the session, or one the log did not keep) cannot be placed, so by default it is dropped with one
:class:`DataWarning` per file (``unknown_clicks="error"`` rejects the file, ``"ignore"`` drops them
silently). TimePassed and RegionID are checked but not kept; click order is not kept.

The full log has about 340 million lines: it is read line by line (``.gz`` too, through
:func:`~distillrank.io.open_text`), never whole into memory, and repeated query and URL ids share one
string each. The preprocessed sample that ships with PyClick (``query<TAB>docs : clicks`` sessions) is
read by :mod:`~distillrank.data.formats.yandex`.
"""

from __future__ import annotations

import re
import warnings
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distillrank.data.clicklog import ClickLog, click_log_from_sessions
from distillrank.data.formats.yandex import UnknownClicks, check_unknown_clicks
from distillrank.errors import DataFormatError, DataWarning
from distillrank.io import open_text

__all__ = ["is_yandex_original_line", "read_yandex_original"]

QUERY_FIELDS = "SessionID<TAB>TimePassed<TAB>Q<TAB>QueryID<TAB>RegionID<TAB>URL1<TAB>...<TAB>URL10"
CLICK_FIELDS = "SessionID<TAB>TimePassed<TAB>C<TAB>URLID"

_ORIGINAL_LINE = re.compile(
    r"^[^\t\n]+\t-?\d+\t(Q\t[^\t\n]+\t[^\t\n]+(\t[^\t\n]+)+|C\t[^\t\n]+)[ \t\r]*(\n|$)"
)


def is_yandex_original_line(line: str) -> bool:
    """Whether ``line`` is a query or click action of the original WSCD 2011 layout."""
    return _ORIGINAL_LINE.match(line) is not None


@dataclass
class _FirstUnknown:
    """Where the first click on a URL outside its query's results was."""

    line: int
    session: str
    url: str


@dataclass
class _LogBuilder:
    """Accumulates query and click actions into the columns of a :class:`ClickLog`.

    ``docs`` holds every shown URL as a code into ``urls``; ``starts[i]`` is where query action ``i``'s
    results begin there; ``latest`` maps a SessionID to its latest query action and how many it had.
    """

    path: Path
    unknown_clicks: UnknownClicks
    session_ids: list[str] = field(default_factory=list)
    qids: list[str] = field(default_factory=list)
    starts: array = field(default_factory=lambda: array("q", [0]))
    docs: array = field(default_factory=lambda: array("q"))
    clicks: bytearray = field(default_factory=bytearray)
    url_code: dict[str, int] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    qid_of: dict[str, str] = field(default_factory=dict)
    latest: dict[str, tuple[int, int]] = field(default_factory=dict)
    n_unknown: int = 0
    first_unknown: _FirstUnknown | None = None

    def _codes(self, shown: list[str]) -> list[int]:
        """The codes of ``shown`` into ``urls``, new URLs added (the hot path of a 340M-line log)."""
        known = self.url_code
        codes = [known.get(u, -1) for u in shown]
        for i, code in enumerate(codes):
            if code < 0:
                codes[i] = known.setdefault(shown[i], len(self.urls))
                if codes[i] == len(self.urls):
                    self.urls.append(shown[i])
        return codes

    def add_query(self, sid: str, qid: str, shown: list[str], lineno: int) -> None:
        """Start a new result page of ``sid`` showing ``shown`` for ``qid``."""
        codes = self._codes(shown)
        if len(set(codes)) != len(codes):
            dup = next(u for i, u in enumerate(shown) if u in shown[:i])
            raise DataFormatError(self.path, lineno, f"URL {dup!r} appears twice in the result list")
        _, n = self.latest.get(sid, (-1, 0))
        self.latest[sid] = (len(self.session_ids), n + 1)
        self.session_ids.append(f"{sid}_{n}")
        self.qids.append(self.qid_of.setdefault(qid, qid))
        self.docs.extend(codes)
        self.clicks.extend(bytes(len(codes)))
        self.starts.append(len(self.docs))

    def add_click(self, sid: str, url: str, lineno: int) -> None:
        """Mark ``url`` clicked on the latest result page of ``sid``."""
        page = self.latest.get(sid)
        if page is None:
            raise DataFormatError(
                self.path, lineno, f"click action of session {sid!r} before any query action of it"
            )
        q = page[0]
        a, b = self.starts[q], self.starts[q + 1]
        code = self.url_code.get(url, -1)
        for i in range(a, b):
            if self.docs[i] == code:
                self.clicks[i] = 1
                return
        if self.unknown_clicks == "error":
            raise DataFormatError(
                self.path,
                lineno,
                f"clicked URL {url!r} is not in the result list of the latest query action of "
                f"session {sid!r}",
            )
        self.n_unknown += 1
        if self.first_unknown is None:
            self.first_unknown = _FirstUnknown(lineno, sid, url)

    def warn_unknown(self) -> None:
        """One :class:`DataWarning` for the dropped clicks (``unknown_clicks="warn"``)."""
        first = self.first_unknown
        if self.n_unknown and self.unknown_clicks == "warn" and first is not None:
            warnings.warn(
                f"{self.path}: dropped {self.n_unknown} clicks on URLs not in the result list of their "
                f"session's latest query (first: line {first.line}, session {first.session!r}, "
                f"URL {first.url!r})",
                DataWarning,
                stacklevel=3,
            )

    def to_clicklog(self) -> ClickLog:
        n_per = np.diff(np.frombuffer(self.starts, dtype=np.int64))
        codes = np.frombuffer(self.docs, dtype=np.int64)
        urls = np.asarray(self.urls, dtype=object)
        clicks = np.frombuffer(self.clicks, dtype=np.uint8)
        return click_log_from_sessions(
            self.session_ids, self.qids, n_per, urls[codes], clicks, source=self.path
        )


def _check_common(fields: list[str], path: Path, lineno: int) -> None:
    """SessionID non-empty, TimePassed an integer."""
    if not fields[0]:
        raise DataFormatError(path, lineno, "empty SessionID")
    if not fields[1].lstrip("-").isdigit():
        raise DataFormatError(path, lineno, f"TimePassed {fields[1]!r} is not an integer")


def _query_fields(fields: list[str], path: Path, lineno: int) -> tuple[str, list[str]]:
    """QueryID and the URLs of a query action."""
    if len(fields) < 6:
        what = "no URLs" if len(fields) == 5 else f"{len(fields)} fields"
        raise DataFormatError(path, lineno, f"query action with {what}: expected {QUERY_FIELDS}")
    if not fields[3]:
        raise DataFormatError(path, lineno, "empty QueryID")
    shown = fields[5:]
    if "" in shown:
        raise DataFormatError(path, lineno, f"empty URL id at field {6 + shown.index('')}")
    return fields[3], shown


def _add_line(log: _LogBuilder, line: str, lineno: int) -> None:
    """Parse one action line into ``log``."""
    fields = line.strip().split("\t")
    if len(fields) < 3:
        raise DataFormatError(
            log.path, lineno, f"{len(fields)} tab-separated fields: expected {QUERY_FIELDS} or {CLICK_FIELDS}"
        )
    action = fields[2]
    if action == "Q":
        _check_common(fields, log.path, lineno)
        qid, shown = _query_fields(fields, log.path, lineno)
        log.add_query(fields[0], qid, shown, lineno)
    elif action == "C":
        if len(fields) != 4:
            raise DataFormatError(
                log.path, lineno, f"click action with {len(fields)} fields: expected {CLICK_FIELDS}"
            )
        _check_common(fields, log.path, lineno)
        if not fields[3]:
            raise DataFormatError(log.path, lineno, "empty URLID")
        log.add_click(fields[0], fields[3], lineno)
    else:
        raise DataFormatError(
            log.path, lineno, f"unknown action type {action!r} (expected Q for a query or C for a click)"
        )


def read_yandex_original(path: str | Path, unknown_clicks: UnknownClicks = "warn") -> ClickLog:
    """Read a click log in the original WSCD 2011 layout (see the module docstring), streaming it.

    Returns a :class:`ClickLog` with one row per shown result: ``session_id`` ``"<SessionID>_<n>"`` (one
    per query action, in file order), ``qid`` the QueryID, ``position`` 1..n, ``docno`` the URL id,
    ``click`` 0/1, ``propensity`` NaN.

    Args:
        unknown_clicks: what to do with a click on a URL that is not in the result list of its session's
            latest query action: ``"warn"`` (drop, one warning per file), ``"ignore"`` or ``"error"``.

    Raises:
        DataFormatError: ``path:line: problem`` for an unknown action type, a query action without URLs
            (or with an empty or repeated one), a click action without exactly 4 fields, a click action
            before any query action of its session, a TimePassed that is not an integer, an empty id,
            or (with ``unknown_clicks="error"``) a click that cannot be placed.
    """
    check_unknown_clicks(unknown_clicks)
    log = _LogBuilder(Path(path), unknown_clicks)
    with open_text(log.path) as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                _add_line(log, line, lineno)
    log.warn_unknown()
    return log.to_clicklog()
