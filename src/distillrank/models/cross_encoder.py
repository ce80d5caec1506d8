"""A monoBERT-style cross-encoder: the query and the document read together, one relevance logit out.

``score(q, d) = w · pool(BERT([CLS] q [SEP] d [SEP])) + b`` (Nogueira & Cho, 2019, *Passage Re-ranking
with BERT*, arXiv:1901.04085): a Hugging Face ``AutoModelForSequenceClassification``; from a plain encoder
checkpoint (such as all-MiniLM-L6-v2) a fresh ``num_labels``-output head is initialised.

It implements :class:`~distillrank.models.base.Scorer` (``predict``, ``rank``, ``save``, ``load``) and
:class:`~distillrank.models.base.ListScorer` (``list_scores`` with gradients, for the trainer).

Fast inference (:meth:`CrossEncoder.predict`): pairs are tokenised once per chunk, ordered by exact token
length and batched so that each batch pads only to its own longest pair (length bucketing), run under
``torch.inference_mode()``, and written back in the input order. :meth:`CrossEncoder.quantize` returns an
int8 copy (dynamic quantisation of the ``Linear`` layers, per-channel weights) for faster CPU inference.

Saved folders are ordinary Hugging Face folders (model, tokenizer with ``model_max_length = max_length``,
plus ``distillrank.json``): ``transformers.AutoModelForSequenceClassification`` and
``sentence_transformers.CrossEncoder`` open them, and sentence-transformers' ``predict`` returns the same
raw logits as ours (the folder names the identity as its activation function).

Example::

    ce = CrossEncoder()  # all-MiniLM-L6-v2 encoder + fresh head
    ce.predict([("what is bm25", "BM25 is a ranking function ..."), ("what is bm25", "Cats purr.")])
    ce.rank("what is bm25", ["BM25 is a ranking function ...", "Cats purr."], top_k=1)
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from distillrank.errors import DistillrankError
from distillrank.io import atomic_write
from distillrank.models import _hf
from distillrank.models._common import (
    check_batch_size,
    check_pairs,
    check_texts,
    inference,
    list_width,
    seeded_init,
)
from distillrank.models.base import rank_by_scores
from distillrank.models.device import resolve_device

CONFIG_NAME = "distillrank.json"
_IDENTITY = "torch.nn.modules.linear.Identity"


class CrossEncoder(torch.nn.Module):
    """A transformer reading ``(query, document)`` pairs and giving one relevance logit per pair.

    Args:
        model_name_or_path: a saved folder or hub name; ``None`` for :func:`~distillrank.models._hf.
            default_encoder_path` (all-MiniLM-L6-v2).
        max_length: pairs are truncated to this many tokens (``longest_first``: the longer of query and
            document loses tokens first).
        num_labels: outputs of the head; 1 for a ranker (``predict`` then returns ``[n]``, otherwise
            ``[n, num_labels]``).
        device: where the model runs.
        num_layers: keep only the first ``num_layers`` transformer layers (a shallow student).
        seed: seed of the weights the checkpoint lacks (the new head of an encoder checkpoint), so that
            the same arguments give the same model in every process; ``None``: torch's global generator.
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        max_length: int = 256,
        num_labels: int = 1,
        device: str | torch.device = "cpu",
        *,
        num_layers: int | None = None,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {max_length}")
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        target = resolve_device(device)  # fail before loading any weights
        _hf.torch_threads()
        self.name_or_path = str(model_name_or_path or _hf.default_encoder_path())
        self.max_length = max_length
        self.num_labels = num_labels
        self.quantized = False
        self.tokenizer = _hf.load_tokenizer(self.name_or_path)
        with seeded_init(seed):
            self.model = _hf.load_sequence_classifier(self.name_or_path, num_labels=num_labels)
        if num_layers is not None:
            _hf.truncate_layers(self.model, num_layers)
        self.model.to(target)
        self.eval()  # like ``from_pretrained``: inference mode until a trainer calls ``train()``

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.model.parameters()).device

    # -- training ----------------------------------------------------------------------------------
    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``[n, num_labels]`` of tokenised pairs."""
        return self.model(**features).logits

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` logits of each query against its ``L`` documents, with gradients.

        All ``B * L`` pairs go through one forward pass (padding documents ``""`` are scored too; the
        trainer masks them).
        """
        if self.num_labels != 1:
            raise DistillrankError(f"list_scores needs a one-output head, this model has {self.num_labels}")
        width = list_width(queries, docs)
        if width is None:
            return torch.zeros(0, 0, device=self.device)
        flat_q = [q for q in queries for _ in range(width)]
        flat_d = [d for ds in docs for d in ds]
        if not flat_d:
            return torch.zeros(len(queries), 0, device=self.device)
        feats = _hf.tokenize(self.tokenizer, flat_q, flat_d, max_length=self.max_length, device=self.device)
        return self(feats)[:, 0].reshape(len(queries), width)

    # -- inference ---------------------------------------------------------------------------------
    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        batch_size: int = 32,
        show_progress: bool = False,
        apply_sigmoid: bool = False,
        *,
        sort_by_length: bool = True,
    ) -> np.ndarray:
        """Scores of ``(query, document)`` pairs, ``float32 [n]`` (``[n, num_labels]`` for several labels).

        Args:
            pairs: the pairs to score.
            batch_size: pairs per forward pass.
            show_progress: a progress bar over batches.
            apply_sigmoid: return ``sigmoid(logit)`` instead of the raw logit.
            sort_by_length: batch pairs of similar token length together (the output order is the
                input order either way; ``False`` is only useful for comparisons).
        """
        check_pairs(pairs)
        check_batch_size(batch_size)
        n = len(pairs)
        shape = (n,) if self.num_labels == 1 else (n, self.num_labels)
        out = np.empty(shape, dtype=np.float32)
        if n == 0:
            return out
        queries = [p[0] for p in pairs]
        docs = [p[1] for p in pairs]
        with inference(self):
            batches = _hf.length_bucketed_batches(
                self.tokenizer,
                queries,
                docs,
                max_length=self.max_length,
                batch_size=batch_size,
                device=self.device,
                sort=sort_by_length,
            )
            total = -(-n // batch_size)
            for positions, feats in _hf.progress(batches, total, show_progress, "Scoring"):
                logits = self(feats).float()
                if apply_sigmoid:
                    logits = torch.sigmoid(logits)
                values = logits.cpu().numpy()
                out[positions] = values[:, 0] if self.num_labels == 1 else values
        return out

    def rank(
        self, query: str, docs: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        check_texts(docs, "docs")
        scores = self.predict([(query, d) for d in docs], batch_size=batch_size)
        return rank_by_scores(scores, top_k)

    def quantize(self, *, fuse_qkv: bool = True) -> CrossEncoder:
        """An int8 copy for CPU inference: dynamic quantisation of the encoder's ``Linear`` layers.

        ``torch.ao.quantization.quantize_dynamic`` with per-channel int8 weights (one scale per output
        row, markedly closer to float32 than one scale per matrix at the same speed); activations are
        quantised on the fly per batch. Embeddings, layer norms and the output layer (``num_labels``
        outputs: no speed to gain) stay in float32. Scores move slightly: check the rank correlation
        with the float model on your data. The copy scores but cannot be trained or saved; this model
        is left unchanged.

        ``fuse_qkv`` first merges each attention layer's query, key and value projections into one
        (:mod:`~distillrank.models._fused`): the layer's input is quantised once instead of three times and
        one larger int8 GEMM runs instead of three, with the same scores. It is used for batches of up to
        128 tokens (measured 1.00x-1.14x there); longer batches keep the three projections (the fused GEMM
        measured 0.97x at 256 tokens).
        """
        if self.device.type != "cpu":
            raise DistillrankError("dynamic int8 quantisation runs on the CPU; move the model there first")
        clone = copy.deepcopy(self)
        clone.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            if fuse_qkv:
                from distillrank.models._fused import fuse_qkv as fuse

                fuse(clone.model)
            spec = {
                name: per_channel_dynamic_qconfig
                for name, module in clone.model.named_modules()
                if isinstance(module, torch.nn.Linear) and module.out_features != self.num_labels
            }
            clone.model = quantize_dynamic(clone.model, spec, dtype=torch.qint8)
        clone.quantized = True
        return clone

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write a Hugging Face folder: model, tokenizer (``model_max_length = max_length``) and
        ``distillrank.json``. ``sentence_transformers.CrossEncoder(path)`` opens it and returns raw
        logits (``activation_fn`` = identity)."""
        if self.quantized:
            raise DistillrankError(
                "a quantized model cannot be saved: save the float model, quantize after load"
            )
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = self.model.config
        st_config = dict(getattr(config, "sentence_transformers", None) or {})
        st_config["activation_fn"] = _IDENTITY
        config.sentence_transformers = st_config
        self.model.save_pretrained(path)
        tokenizer = copy.copy(self.tokenizer)
        tokenizer.model_max_length = self.max_length
        tokenizer.save_pretrained(path)
        meta = {"kind": "cross_encoder", "max_length": self.max_length, "num_labels": self.num_labels}
        with atomic_write(path / CONFIG_NAME) as f:
            f.write(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Self:
        """Open a folder written by :meth:`save` (or any sequence-classification folder)."""
        path = Path(path)
        meta: dict[str, Any] = {}
        if (path / CONFIG_NAME).exists():
            meta = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
            if meta.get("kind", "cross_encoder") != "cross_encoder":
                raise DistillrankError(f"{path} holds a {meta['kind']}, not a cross-encoder")
        elif not path.exists():
            raise DistillrankError(f"no model folder at {path}")
        num_labels = meta.get("num_labels")
        if num_labels is None and (path / "config.json").exists():
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            num_labels = config.get("num_labels") or len(config.get("id2label") or {0: 0})
        return cls(
            path, max_length=int(meta.get("max_length", 256)), num_labels=int(num_labels or 1), device=device
        )

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of the model (int8-packed ``Linear`` weights of a quantized copy are not counted)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def __repr__(self) -> str:
        q = ", int8" if self.quantized else ""
        return f"CrossEncoder({self.name_or_path!r}, max_length={self.max_length}{q})"
