"""The job's dense side: query vectors cached per process, except while a path's cost is measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from distillrank.data import Corpus
from distillrank.pipeline.dense import DenseSide


def test_uncached_queries_encode_every_query_afresh(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = Corpus(["d1", "d2"], ["", ""], ["cells divide", "proteins fold"])
    side = DenseSide(corpus, tmp_path, model=str(tiny_bert_dir), doc_max_length=16, query_max_length=8)
    calls: list[list[str]] = []
    encode = side.encoder.encode

    def counting(texts: Any, **kwargs: Any) -> np.ndarray:
        calls.append(list(texts))
        return encode(texts, **kwargs)

    monkeypatch.setattr(side.encoder, "encode", counting)
    cached = side.query_vectors(["why do cells divide"])
    side.query_vectors(["why do cells divide"])
    assert calls == [["why do cells divide"]]  # the second call hit the cache
    with side.uncached_queries():
        fresh = side.query_vectors(["why do cells divide"])
        side.query_vectors(["why do cells divide"])
    assert len(calls) == 3  # both calls inside the block encoded the query
    np.testing.assert_allclose(fresh, cached, rtol=1e-5, atol=1e-6)
    side.query_vectors(["why do cells divide"])
    assert len(calls) == 3  # caching is back after the block
