"""The cost meter: latency percentiles, throughput, peak memory and parameter counts.

Timing assertions are one-sided (a sleep lasts at least its duration) so that slow machines cannot
make them fail.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from distillrank.evaluation import CostMeter, CostReport, count_parameters, current_rss_mib, measure

HAS_PROC = Path("/proc/self/status").exists()


def test_percentiles_of_recorded_latencies() -> None:
    meter = CostMeter(track_memory=False)
    with meter:
        for ms in range(1, 101):  # 1, 2, ..., 100 ms
            meter.record(ms / 1000, n_items=2)
    r = meter.result()
    assert r.n_queries == 100 and r.items == 200
    # numpy's linear interpolation: p50 between 50 and 51, p99 at 98.01 -> 99 + 0.01.
    assert r.latency_p50_ms == pytest.approx(50.5)
    assert r.latency_p99_ms == pytest.approx(99.01)
    assert r.latency_mean_ms == pytest.approx(50.5)
    assert r.items_per_s == pytest.approx(r.items / r.seconds)
    assert r.peak_rss_mib is None and r.rss_delta_mib is None


def test_timed_sleeps() -> None:
    with CostMeter(track_memory=False) as meter:
        for n in (1, 2, 3, 4, 5):
            with meter.query(n_items=n):
                time.sleep(0.01)
        meter.add_items(5)
    r = meter.result()
    assert r.n_queries == 5 and r.items == 20
    assert r.latency_p50_ms >= 9.0 and r.latency_p99_ms >= r.latency_p50_ms
    assert r.seconds >= 5 * 0.009 and r.seconds * 1000 >= r.latency_mean_ms * 5
    assert 0 < r.items_per_s <= 20 / 0.045


def test_meter_without_queries() -> None:
    with CostMeter(track_memory=False) as meter:
        meter.add_items(3)
    r = meter.result()
    assert r.n_queries == 0 and r.latency_p50_ms is None and r.items == 3


@pytest.mark.skipif(not HAS_PROC, reason="peak RSS sampling reads /proc/self/status (Linux)")
def test_peak_rss_sees_a_temporary_allocation() -> None:
    size_mib = 200
    with CostMeter(sample_interval_s=0.002) as meter:
        block = np.ones(size_mib * 1024 * 1024 // 8)  # touched pages: resident
        time.sleep(0.05)
        del block
    r = meter.result()
    assert r.rss_delta_mib >= 0.75 * size_mib
    assert r.peak_rss_mib >= r.rss_delta_mib
    assert current_rss_mib() < r.peak_rss_mib  # freed again


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc/self/status (Linux)")
def test_cpu_tensors_count_in_rss() -> None:
    with CostMeter(sample_interval_s=0.002) as meter:
        t = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB of float32
        time.sleep(0.03)
        del t
    assert meter.result().rss_delta_mib >= 48


def test_count_parameters() -> None:
    assert count_parameters(torch.nn.Linear(10, 3)) == 33
    assert count_parameters(torch.nn.Linear(10, 3, bias=False)) == 30
    shared = torch.nn.Linear(4, 4)
    assert count_parameters(torch.nn.Sequential(shared, torch.nn.ReLU(), shared)) == 20  # counted once
    frozen = torch.nn.Linear(10, 3)
    frozen.weight.requires_grad_(False)
    assert count_parameters(frozen) == 33
    assert count_parameters(frozen, trainable_only=True) == 3

    class WithAttr:
        n_params = 7

    class WithMethod:
        def num_parameters(self) -> int:
            return 11

    assert count_parameters(WithAttr()) == 7
    assert count_parameters(WithMethod()) == 11
    with pytest.raises(TypeError, match="cannot count the parameters of a str"):
        count_parameters("model")


def test_meter_reports_params() -> None:
    with CostMeter(torch.nn.Linear(10, 3), track_memory=False) as meter:
        pass
    assert meter.result().params == 33
    with CostMeter(params=5, track_memory=False) as meter:
        pass
    assert meter.result().params == 5


def test_measure_helper() -> None:
    calls: list[list[int]] = []

    def fn(batch: list[int]) -> int:
        calls.append(batch)
        return sum(batch)

    outputs, report = measure(fn, [[1, 2], [3], [4, 5, 6]], warmup=1, track_memory=False)
    assert outputs == [3, 3, 15]
    assert len(calls) == 4  # one warm-up call, then every batch
    assert report.items == 6 and report.n_queries == 3
    assert report.peak_gpu_mib is None  # no CUDA here


def test_report_to_dict_and_str() -> None:
    with CostMeter(params=1234) as meter, meter.query(n_items=10):
        pass
    r = meter.result()
    d = r.to_dict()
    assert isinstance(r, CostReport)
    assert set(d) == {
        "items",
        "n_queries",
        "seconds",
        "items_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_mean_ms",
        "peak_rss_mib",
        "rss_delta_mib",
        "peak_gpu_mib",
        "params",
    }
    assert d["items"] == 10 and d["params"] == 1234
    text = str(r)
    assert "10 items" in text and "1,234 params" in text and "p99" in text


def test_meter_misuse() -> None:
    meter = CostMeter(track_memory=False)
    with pytest.raises(RuntimeError, match="never started"):
        meter.result()
    with pytest.raises(RuntimeError, match="not running"):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError, match="already started"):
        meter.start()
    meter.stop()
    meter.start()  # a stopped meter can measure again, from zero
    assert meter.stop().items == 0
    with pytest.raises(ValueError, match="latency must be"):
        meter.record(-1.0)
    with pytest.raises(ValueError, match="sample_interval_s"):
        CostMeter(sample_interval_s=0)
