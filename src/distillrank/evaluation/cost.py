"""A cost meter recorded next to quality: throughput, per-query latency, peak memory and model size.

>>> meter = CostMeter(params=1000)
>>> with meter:
...     for docs in (["a", "b"], ["c"]):
...         with meter.query(n_items=len(docs)):
...             _ = sorted(docs)
>>> report = meter.result()
>>> report.items, report.n_queries, report.params
(3, 2, 1000)

What is measured:

* **Throughput** ``items_per_s``: items counted (by :meth:`CostMeter.query`, :meth:`CostMeter.record`
  or :meth:`CostMeter.add_items`) divided by the wall-clock time between start and stop.
* **Latency**: one value per :meth:`CostMeter.query` block (or :meth:`CostMeter.record` call), timed
  with :func:`time.perf_counter_ns`; reported as the 50th and 99th percentiles in milliseconds with
  linear interpolation between order statistics (``numpy.percentile``'s default).
* **Peak memory**: the peak resident set size (RSS) of the whole process during the measured block, in
  MiB, and ``rss_delta_mib``, that peak minus the RSS at start (what the block added at its worst).
  A background thread samples ``VmRSS`` from ``/proc/self/status`` every ``sample_interval_s``; when the
  kernel's high-water mark ``VmHWM`` rises during the block, the exact peak is known and used. Tensors
  on the CPU (torch, numpy) live in the process's memory and so count in RSS; GPU memory does not, and
  is reported separately as ``peak_gpu_mib`` (``torch.cuda.max_memory_allocated``) when CUDA is in use.
  Without ``/proc`` (macOS, Windows) only ``getrusage``'s lifetime peak is available: ``peak_rss_mib``
  is then the process's peak so far and ``rss_delta_mib`` how much that peak grew during the block.
* **Parameters**: :func:`count_parameters` of the model given to the meter.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

_MIB = 1024 * 1024
_PROC_STATUS = "/proc/self/status"

B = TypeVar("B")
T = TypeVar("T")


def count_parameters(model: Any, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model``.

    Accepts a ``torch.nn.Module`` (each shared parameter counted once), or any object exposing
    ``n_params`` or ``num_parameters`` as an attribute or a method (Hugging Face models, GBDT wrappers).

    Args:
        trainable_only: count only parameters with ``requires_grad`` (torch modules only).

    Raises:
        TypeError: the object exposes no parameter count.
    """
    if "torch" in sys.modules:
        import torch

        if isinstance(model, torch.nn.Module):
            return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    for attr in ("n_params", "num_parameters"):
        value = getattr(model, attr, None)
        if value is None:
            continue
        if callable(value):
            value = value()
        return int(value)
    raise TypeError(
        f"cannot count the parameters of a {type(model).__name__}: expected a torch.nn.Module or an "
        "object with an `n_params` or `num_parameters` attribute"
    )


@dataclass(frozen=True)
class CostReport:
    """Cost of one measured block; ``None`` where a quantity was not measured.

    Attributes:
        items: items processed (documents scored, queries encoded...).
        n_queries: number of timed queries (latency samples).
        seconds: wall-clock seconds from start to stop.
        items_per_s: ``items / seconds``.
        latency_p50_ms, latency_p99_ms, latency_mean_ms: per-query latency statistics in milliseconds.
        peak_rss_mib: peak resident memory of the process during the block, in MiB.
        rss_delta_mib: ``peak_rss_mib`` minus the resident memory at start, in MiB.
        peak_gpu_mib: peak CUDA memory allocated by torch during the block, in MiB.
        params: parameter count of the measured model.
    """

    items: int
    n_queries: int
    seconds: float
    items_per_s: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_mean_ms: float | None = None
    peak_rss_mib: float | None = None
    rss_delta_mib: float | None = None
    peak_gpu_mib: float | None = None
    params: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        parts = [f"{self.items} items in {self.seconds:.3f} s ({self.items_per_s:,.1f}/s)"]
        if self.latency_p50_ms is not None:
            parts.append(f"latency p50 {self.latency_p50_ms:.2f} ms, p99 {self.latency_p99_ms:.2f} ms")
        if self.peak_rss_mib is not None:
            parts.append(f"peak RSS {self.peak_rss_mib:.1f} MiB (+{self.rss_delta_mib:.1f})")
        if self.peak_gpu_mib is not None:
            parts.append(f"peak GPU {self.peak_gpu_mib:.1f} MiB")
        if self.params is not None:
            parts.append(f"{self.params:,} params")
        return "; ".join(parts)


def _read_status_kib() -> tuple[int, int] | None:
    """``(VmRSS, VmHWM)`` of this process in KiB, or ``None`` without ``/proc``."""
    rss = hwm = None
    try:
        with open(_PROC_STATUS, "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        return None
    if rss is None or hwm is None:
        return None
    return rss, hwm


def _rusage_peak_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


class _RssSampler(threading.Thread):
    """Background thread keeping the largest ``VmRSS`` seen (KiB)."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(name="distillrank-rss-sampler", daemon=True)
        self.interval_s = interval_s
        self.max_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while True:
            status = _read_status_kib()
            if status is not None:
                self.max_kib = max(self.max_kib, status[0])
            if self._halt.wait(self.interval_s):
                return

    def halt(self) -> None:
        self._halt.set()
        self.join()


def _cuda() -> Any | None:
    """The ``torch.cuda`` module when torch is already imported and CUDA is initialised, else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda
    except Exception:  # a broken CUDA setup must not break measuring
        return None
    return None


class _QueryTimer:
    __slots__ = ("_meter", "_n_items", "_t0")

    def __init__(self, meter: CostMeter, n_items: int) -> None:
        self._meter = meter
        self._n_items = n_items
        self._t0 = 0

    def __enter__(self) -> _QueryTimer:
        self._t0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._meter.synchronize:
            self._meter._sync()
        self._meter._latencies_ns.append(time.perf_counter_ns() - self._t0)
        self._meter._items += self._n_items


class CostMeter:
    """Measure throughput, per-query latency, peak memory and parameter count of a block of work.

    Use as a context manager (or call :meth:`start` and :meth:`stop`); time each query with
    ``with meter.query(n_items=...)``, then read :meth:`result`::

        with CostMeter(model) as meter:
            for query, docs in batches:
                with meter.query(n_items=len(docs)):
                    scores = model.score(query, docs)
        print(meter.result())

    Args:
        model: counted with :func:`count_parameters` for ``params`` (optional).
        params: parameter count given directly, instead of ``model``.
        track_memory: sample the process's RSS in a background thread.
        sample_interval_s: sampling period of the RSS thread.
        synchronize: call ``torch.cuda.synchronize()`` before reading the clock at the end of each query
            and at stop, so that asynchronous GPU work is timed (only when CUDA is in use).
    """

    def __init__(
        self,
        model: Any = None,
        *,
        params: int | None = None,
        track_memory: bool = True,
        sample_interval_s: float = 0.005,
        synchronize: bool = False,
    ) -> None:
        if sample_interval_s <= 0:
            raise ValueError(f"sample_interval_s must be positive, got {sample_interval_s}")
        self.model = model
        self.params = params
        self.track_memory = track_memory
        self.sample_interval_s = sample_interval_s
        self.synchronize = synchronize
        self._latencies_ns: list[int] = []
        self._items = 0
        self._t0: int | None = None
        self._t1: int | None = None
        self._sampler: _RssSampler | None = None
        self._start_status: tuple[int, int] | None = None
        self._start_rusage = 0
        self._peak_kib: int | None = None
        self._delta_kib: int | None = None
        self._peak_gpu: int | None = None

    # -- recording ---------------------------------------------------------------------------------
    def query(self, n_items: int = 1) -> _QueryTimer:
        """Context manager timing one query that processes ``n_items`` items."""
        return _QueryTimer(self, n_items)

    def record(self, seconds: float, n_items: int = 1) -> None:
        """Add a query latency measured elsewhere (for example by a batched scorer)."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"latency must be a finite non-negative number of seconds, got {seconds}")
        self._latencies_ns.append(round(seconds * 1e9))
        self._items += n_items

    def add_items(self, n_items: int) -> None:
        """Count items towards throughput without a latency sample."""
        self._items += n_items

    # -- start / stop ------------------------------------------------------------------------------
    def start(self) -> CostMeter:
        if self._t0 is not None and self._t1 is None:
            raise RuntimeError("CostMeter already started")
        self._latencies_ns.clear()
        self._items = 0
        self._t1 = None
        self._peak_kib = self._delta_kib = self._peak_gpu = None
        cuda = _cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        if self.track_memory:
            self._start_status = _read_status_kib()
            if self._start_status is None:
                self._start_rusage = _rusage_peak_kib()
            else:
                self._sampler = _RssSampler(self.sample_interval_s)
                self._sampler.max_kib = self._start_status[0]
                self._sampler.start()
        self._t0 = time.perf_counter_ns()
        return self

    def stop(self) -> CostReport:
        if self._t0 is None or self._t1 is not None:
            raise RuntimeError("CostMeter is not running; call start() first")
        if self.synchronize:
            self._sync()
        self._t1 = time.perf_counter_ns()
        if self.track_memory:
            self._stop_memory()
        cuda = _cuda()
        if cuda is not None:
            self._peak_gpu = int(cuda.max_memory_allocated())
        return self.result()

    def _stop_memory(self) -> None:
        if self._start_status is None:
            peak = _rusage_peak_kib()
            self._peak_kib, self._delta_kib = peak, peak - self._start_rusage
            return
        assert self._sampler is not None
        self._sampler.halt()
        peak = self._sampler.max_kib
        self._sampler = None
        end = _read_status_kib()
        if end is not None:
            peak = max(peak, end[0])
            if end[1] > self._start_status[1]:  # a new high-water mark was set inside the block
                peak = max(peak, end[1])
        self._peak_kib, self._delta_kib = peak, peak - self._start_status[0]

    def _sync(self) -> None:
        cuda = _cuda()
        if cuda is not None:
            cuda.synchronize()

    def __enter__(self) -> CostMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- report ------------------------------------------------------------------------------------
    def result(self) -> CostReport:
        """The report of the measured block (up to now when the meter is still running)."""
        if self._t0 is None:
            raise RuntimeError("CostMeter was never started")
        t1 = self._t1 if self._t1 is not None else time.perf_counter_ns()
        seconds = (t1 - self._t0) / 1e9
        p50 = p99 = mean = None
        if self._latencies_ns:
            ms = np.asarray(self._latencies_ns, dtype=np.float64) / 1e6
            p50, p99 = (float(v) for v in np.percentile(ms, [50, 99]))
            mean = float(ms.mean())
        params = self.params
        if params is None and self.model is not None:
            params = count_parameters(self.model)
        return CostReport(
            items=self._items,
            n_queries=len(self._latencies_ns),
            seconds=seconds,
            items_per_s=self._items / seconds if seconds > 0 else float("inf"),
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            latency_mean_ms=mean,
            peak_rss_mib=None if self._peak_kib is None else self._peak_kib / 1024,
            rss_delta_mib=None if self._delta_kib is None else self._delta_kib / 1024,
            peak_gpu_mib=None if self._peak_gpu is None else self._peak_gpu / _MIB,
            params=params,
        )


def measure(
    fn: Callable[[B], T],
    batches: Iterable[B],
    *,
    n_items: Callable[[Any], int] = len,
    warmup: int = 0,
    model: Any = None,
    params: int | None = None,
    **meter_kwargs: Any,
) -> tuple[list[T], CostReport]:
    """Call ``fn`` on every batch under a :class:`CostMeter`; each call is one timed query.

    Args:
        fn: the work, for example ``lambda docs: model.score(query, docs)``.
        batches: the inputs, one per call.
        n_items: items in a batch, for throughput (default ``len``).
        warmup: run ``fn`` on the first ``warmup`` batches before measuring (outputs discarded);
            the measured pass still covers every batch.
        model, params, meter_kwargs: passed to :class:`CostMeter`.

    Returns:
        The outputs of ``fn`` in batch order, and the cost report.
    """
    batches = list(batches)
    for batch in batches[:warmup]:
        fn(batch)
    meter = CostMeter(model, params=params, **meter_kwargs)
    outputs: list[T] = []
    with meter:
        for batch in batches:
            with meter.query(n_items=n_items(batch)):
                outputs.append(fn(batch))
    return outputs, meter.result()


def current_rss_mib() -> float | None:
    """Resident memory of this process now, in MiB (``None`` without ``/proc``)."""
    status = _read_status_kib()
    return None if status is None else status[0] / 1024


__all__ = ["CostMeter", "CostReport", "count_parameters", "current_rss_mib", "measure"]
