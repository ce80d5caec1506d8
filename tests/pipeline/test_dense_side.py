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


def test_static_encoder_is_fitted_once_and_cached(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distillrank.models.static_encoder as static_module

    corpus = Corpus(
        ["d1", "d2"],
        ["", ""],
        ["Cells divide by mitosis in most tissues. They copy their DNA first.", "Proteins fold into shapes."],
    )
    side = DenseSide(corpus, tmp_path, model=str(tiny_bert_dir), doc_max_length=16, query_max_length=8)
    fits: list[int] = []
    distil = static_module.distil_static_encoder

    def counting(*args: Any, **kwargs: Any) -> list[float]:
        fits.append(1)
        return distil(*args, **kwargs)

    monkeypatch.setattr(static_module, "distil_static_encoder", counting)
    first = side.static_encoder(sentences=10, epochs=1)
    again = side.static_encoder(sentences=10, epochs=1)
    assert fits == [1]  # the second call loaded the saved encoder
    np.testing.assert_allclose(again.encode(["cells"]), first.encode(["cells"]), rtol=1e-6)
    side.static_encoder(sentences=10, epochs=2)
    assert fits == [1, 1]  # other settings, another encoder
    view = side.with_query_encoder(first)
    np.testing.assert_allclose(view.encode(["cells"], is_query=True), first.encode(["cells"]), rtol=1e-6)
    docs = view.encode([corpus.full_texts()[1]], is_query=False)
    np.testing.assert_allclose(docs, side.doc_vectors[[1]])  # documents stay the side's vectors
    assert view.num_parameters() == first.num_parameters()


def test_static_encoder_without_stand_in_queries_names_the_problem(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from distillrank.errors import DistillrankError

    corpus = Corpus(["d1", "d2"], ["", ""], ["too short", "tiny"])
    side = DenseSide(corpus, tmp_path, model=str(tiny_bert_dir), doc_max_length=16, query_max_length=8)
    with pytest.raises(DistillrankError, match="no document of the corpus has a sentence or word window"):
        side.static_encoder(sentences=10, epochs=1)
