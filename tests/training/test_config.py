"""TrainerConfig: defaults, exact validation messages, and loading from YAML/TOML/JSON files."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest

from distillrank.training import config as config_module
from distillrank.training.config import ConfigError, TrainerConfig


def test_defaults_pick_the_loss_from_in_batch() -> None:
    assert TrainerConfig().loss == "listnet"
    assert TrainerConfig.from_dict({"in_batch": True}).loss == "in_batch_softmax"
    assert TrainerConfig.from_dict({"batch_size": 4, "grad_accumulation": 3}).effective_batch_size == 12
    cfg = TrainerConfig.from_dict({"loss": "margin_mse", "checkpoint_dir": "ck", "checkpoint_every": 5})
    assert TrainerConfig.from_dict(cfg.to_dict()) == cfg


BAD: list[tuple[dict[str, Any], str]] = [
    ({"lr": 0}, "lr: must be > 0 (got 0)"),
    ({"lr": "fast"}, "lr: must be a number (got 'fast')"),
    ({"batch_size": 0}, "batch_size: must be >= 1 (got 0)"),
    ({"batch_size": 2.5}, "batch_size: must be an integer (got 2.5)"),
    ({"epochs": True}, "epochs: must be an integer (got True)"),
    ({"grad_accumulation": -2}, "grad_accumulation: must be >= 1 (got -2)"),
    ({"warmup_ratio": 1.0}, "warmup_ratio: must be < 1 (got 1.0)"),
    ({"weight_decay": -0.1}, "weight_decay: must be >= 0 (got -0.1)"),
    ({"max_grad_norm": 0}, "max_grad_norm: must be > 0 (got 0)"),
    ({"max_steps": 0}, "max_steps: must be >= 1 (got 0)"),
    ({"patience": 0}, "patience: must be >= 1 (got 0)"),
    ({"eval_every": 0}, "eval_every: must be a positive number of steps or 'epoch' (got 0)"),
    ({"eval_every": "weekly"}, "eval_every: must be a positive number of steps or 'epoch' (got 'weekly')"),
    ({"show_progress": "yes"}, "show_progress: must be true or false (got 'yes')"),
    ({"loss_kwargs": 3}, "loss_kwargs: must be a mapping (got 3)"),
    ({"checkpoint_every": 10}, "checkpoint_every: needs checkpoint_dir"),
    (
        {"loss": "in_batch_softmax"},
        "loss: 'in_batch_softmax' takes a full-product matrix: set in_batch to true",
    ),
    (
        {"loss": "listnet", "in_batch": True},
        "loss: in_batch needs an in-batch loss such as 'in_batch_softmax' (got 'listnet')",
    ),
    # loss_kwargs were accepted unchecked until a Trainer was built from the config
    (
        {"loss": "soft_label", "loss_kwargs": {"temp": 2.0}},
        "loss_kwargs: loss 'soft_label' has no hyper-parameter 'temp'; its hyper-parameters: divergence, "
        "temperature",
    ),
    (
        {"loss": "soft_label", "loss_kwargs": {"temperature": -1.0}},
        "loss_kwargs: loss 'soft_label': temperature must be a positive number, got -1.0",
    ),
]


@pytest.mark.parametrize(
    ("settings", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)]
)
def test_invalid_settings_give_exact_messages(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainerConfig.from_dict(settings, source="train.yaml")
    assert str(info.value) == f"train.yaml: {message}"
    assert info.value.source == "train.yaml"
    assert info.value.problems == [tuple(message.split(": ", 1))]


def test_unknown_loss_and_unknown_setting() -> None:
    with pytest.raises(
        ConfigError, match=r"^<dict>: loss: unknown loss 'listmle' \(registered: bce, "
    ) as info:
        TrainerConfig.from_dict({"loss": "listmle"})
    assert "in_batch_softmax" in str(info.value)
    with pytest.raises(
        ConfigError, match=r"^<dict>: learning_rate: unknown setting \(valid settings: batch_size, "
    ):
        TrainerConfig.from_dict({"learning_rate": 1e-3})


def test_several_problems_are_listed_one_per_line() -> None:
    with pytest.raises(ConfigError) as info:
        TrainerConfig.from_dict({"lr": -1, "epochs": 0})
    assert str(info.value).splitlines() == [
        "<dict>: epochs: must be >= 1 (got 0)",
        "<dict>: lr: must be > 0 (got -1)",
    ]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        TrainerConfig.from_dict({"lr": -1})


def test_from_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(
        "loss: listnet\nloss_kwargs: {temperature: 0.5}\nepochs: 3\nlr: 3.0e-5\neval_every: 100\n"
        "patience: 2\ncheckpoint_dir: runs/x\ncheckpoint_every: 50\nbucket_by_length: true\n"
    )
    cfg = TrainerConfig.from_file(path)
    assert (cfg.loss, cfg.loss_kwargs, cfg.epochs, cfg.lr) == ("listnet", {"temperature": 0.5}, 3, 3e-5)
    assert (cfg.eval_every, cfg.patience, cfg.checkpoint_every, cfg.bucket_by_length) == (100, 2, 50, True)
    assert cfg.checkpoint_dir == Path("runs/x")


def test_from_toml_file_with_a_trainer_section(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(
        '[trainer]\nloss = "in_batch_softmax"\nin_batch = true\nbatch_size = 32\n'
        "[trainer.loss_kwargs]\nsymmetric = true\n"
    )
    cfg = TrainerConfig.from_file(path)
    assert (cfg.loss, cfg.in_batch, cfg.batch_size, cfg.loss_kwargs) == (
        "in_batch_softmax",
        True,
        32,
        {"symmetric": True},
    )


def test_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text('{"max_steps": 7, "seed": 3}')
    assert (TrainerConfig.from_file(path).max_steps, TrainerConfig.from_file(path).seed) == (7, 3)


def test_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 0\n")
    with pytest.raises(ConfigError) as info:
        TrainerConfig.from_file(path)
    assert str(info.value) == f"{path}: batch_size: must be >= 1 (got 0)"

    path = tmp_path / "bad.toml"
    path.write_text("[trainer]\nlr = -1.0\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: lr: must be > 0 \(got -1\.0\)$"):
        TrainerConfig.from_file(path)

    path = tmp_path / "broken.toml"
    path.write_text("lr = = 3\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: cannot parse TOML: .*line 1"):
        TrainerConfig.from_file(path)

    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping of settings, got list$"):
        TrainerConfig.from_file(path)

    path = tmp_path / "train.ini"
    path.write_text("x")
    with pytest.raises(
        ConfigError, match=r"train\.ini: unknown config format '\.ini': use \.yaml, \.yml, \.json or \.toml$"
    ):
        TrainerConfig.from_file(path)

    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the file"):
        TrainerConfig.from_file(tmp_path / "missing.yaml")


def test_empty_yaml_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing\n")
    assert TrainerConfig.from_file(path) == TrainerConfig()


def test_module_doctest() -> None:
    result = doctest.testmod(config_module)
    assert result.failed == 0 and result.attempted > 0
