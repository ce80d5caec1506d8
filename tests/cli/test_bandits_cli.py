"""``distillrank bandits simulate`` and ``bandits ope`` on the shared data (the Open Bandit Dataset and the
LightGBM lambdarank example): the files they write, their figures against the library's, and bad inputs."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distillrank.bandits import BanditConfig, PolicySpec, ltr_environment, obd_environment, simulate
from distillrank.bandits.ope import DEFAULT_ESTIMATORS, evaluate_logged_policy
from distillrank.cli import bandits as bandits_cli
from distillrank.cli.main import app
from distillrank.data.catalogue import load_dataset
from distillrank.errors import DataWarning

runner = CliRunner()

POLICY_KEYS = {
    "name",
    "params",
    "rounds",
    "regret",
    "regret_se",
    "regret_at",
    "final_regret_per_seed",
    "clicks_per_round",
    "clicks_per_round_se",
    "clicks_fraction_of_optimal",
    "regret_T_over_half_T",
    "growth",
    "seconds_per_run",
}


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


@pytest.mark.data
def test_simulate_obd_quick_writes_the_report_and_matches_the_library(
    shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "obd"
    args = ["bandits", "simulate", "--env", "obd", "--quick", "--seeds", "2", "--data-dir", str(shared_data)]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"report.md", "report.html", "metrics.json", "regret.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    env = metrics["environment"]
    assert env["name"] == "OBD (all)" and env["items"] == 80 and env["positions"] == 3
    assert env["feedback"] == "pbm" and "uniform-random log" in env["description"]
    assert metrics["rounds"] == bandits_cli.QUICK_ROUNDS and metrics["seeds"] == [0, 1]
    assert list(metrics["policies"]) == [p.key for p in bandits_cli.parse_policies(None)]

    config = BanditConfig(rounds=bandits_cli.QUICK_ROUNDS, seeds=(0, 1), checkpoints=bandits_cli.CHECKPOINTS)
    direct = simulate(obd_environment(shared_data, "all"), config)
    assert direct.optimal_clicks_per_round == pytest.approx(metrics["optimal_clicks_per_round"])
    for label, p in direct.policies.items():
        got = metrics["policies"][label]
        assert set(got) == POLICY_KEYS
        assert got["rounds"] == direct.checkpoints
        np.testing.assert_allclose(got["regret"], p.regret_mean)
        assert p.regret_se is not None
        np.testing.assert_allclose(got["regret_se"], p.regret_se)
        assert got["clicks_per_round"] == pytest.approx(p.clicks_per_round)
        assert got["regret_T_over_half_T"] == pytest.approx(p.growth)
        assert got["regret_at"]["T"]["mean"] == pytest.approx(p.regret_mean[-1])
        assert got["regret_at"]["T/2"]["round"] == bandits_cli.QUICK_ROUNDS // 2
    report = (out / "report.md").read_text()
    assert "R(T/10)" in report and "R(T)/R(T/2)" in report and "![" in report
    assert report.count("data:image/png;base64,") == 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    assert "cumulative regret, T = 2,000, 2 seeds" in " ".join(result.stdout.split())


@pytest.mark.data
def test_simulate_ltr_cascade_on_the_lightgbm_example(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ltr"
    args = ["bandits", "simulate", "--env", "lightgbm-lambdarank", "--feedback", "cascade", "--quick"]
    args += ["--policy", "uniform", "--policy", "ucb1:alpha=1.5", "--policy", "thompson"]
    result = runner.invoke(app, [*args, "--data-dir", str(shared_data), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    env = metrics["environment"]
    assert env["feedback"] == "cascade" and env["positions"] == 5 and env["split"] == "train"
    assert "examination" not in env and "cascade model" in env["description"]
    data = load_dataset("lightgbm-lambdarank", shared_data)["train"]
    environment = ltr_environment(data, 5, "cascade")
    assert env["queries"] == environment.n_contexts
    specs = (PolicySpec("uniform"), PolicySpec("ucb1", {"alpha": 1.5}), PolicySpec("thompson"))
    config = BanditConfig(
        bandits_cli.QUICK_ROUNDS, tuple(range(bandits_cli.QUICK_SEEDS)), specs, bandits_cli.CHECKPOINTS
    )
    direct = simulate(environment, config)
    assert list(metrics["policies"]) == ["uniform", "ucb1(alpha=1.5)", "thompson"]
    for label, p in direct.policies.items():
        np.testing.assert_allclose(metrics["policies"][label]["regret"], p.regret_mean)
    final = {k: v["regret"][-1] for k, v in metrics["policies"].items()}
    assert final["thompson"] < final["uniform"] and final["ucb1(alpha=1.5)"] < final["uniform"]
    assert metrics["policies"]["uniform"]["growth"] == "linear"


@pytest.mark.data
def test_simulate_linear_policies_on_the_lightgbm_example(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin"
    args = ["bandits", "simulate", "--env", "lightgbm-lambdarank", "--rounds", "600", "--seeds", "2"]
    args += ["--policy", "lin_ucb:alpha=0.3", "--policy", "lin_ts", "--policy", "uniform"]
    result = runner.invoke(app, [*args, "--data-dir", str(shared_data), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    environment = ltr_environment(load_dataset("lightgbm-lambdarank", shared_data)["train"], 5, "pbm")
    specs = (PolicySpec("lin_ucb", {"alpha": 0.3}), PolicySpec("lin_ts"), PolicySpec("uniform"))
    direct = simulate(environment, BanditConfig(600, (0, 1), specs, bandits_cli.CHECKPOINTS))
    for label, p in direct.policies.items():
        np.testing.assert_allclose(metrics["policies"][label]["regret"], p.regret_mean)
    final = {k: v["regret"][-1] for k, v in metrics["policies"].items()}
    assert final["lin_ucb(alpha=0.3)"] < final["uniform"] and final["lin_ts"] < final["uniform"]


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::distillrank.errors.DataWarning")
def test_simulate_on_a_click_log_fits_a_pbm_per_query(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "yandex"
    args = ["bandits", "simulate", "--env", "yandex-wscd-sample", "--quick", "--seeds", "1"]
    args += ["--policy", "thompson", "--data-dir", str(shared_data), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    env = metrics["environment"]
    assert env["feedback"] == "pbm" and env["split"] == "train" and env["queries"] == 13
    assert metrics["policies"]["thompson"]["regret_se"] is None
    assert "fitted by EM" in (out / "report.md").read_text()


@pytest.mark.data
def test_ope_on_one_campaign_matches_evaluate_logged_policy(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ope"
    args = ["bandits", "ope", "--campaign", "men", "--bootstrap", "50", "--refit-resamples", "0"]
    args += ["--data-dir", str(shared_data)]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["campaigns"]) == ["men"]
    direct = evaluate_logged_policy(shared_data, "men", n_bootstrap=50)
    assert metrics["campaigns"]["men"] == json.loads(json.dumps(direct.to_dict()))
    assert list(metrics["summary"]) == list(DEFAULT_ESTIMATORS)
    assert metrics["summary"]["ips"]["mean_relative_error"] == pytest.approx(
        direct.estimators["ips"].relative_error
    )
    assert metrics["warnings"] == {"men": []}
    report = (out / "report.md").read_text()
    assert "## Campaign: men" in report and "(ope_men.png)" in report and (out / "ope_men.png").is_file()
    assert "truth 0.00690" in " ".join(result.stdout.split())


@pytest.mark.data
def test_ope_refit_resamples_widen_the_reward_models_intervals(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ope"
    args = ["bandits", "ope", "--campaign", "all", "--estimators", "dm,ips", "--bootstrap", "50"]
    args += ["--refit-resamples", "4", "--data-dir", str(shared_data), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = json.loads((out / "metrics.json").read_text())["campaigns"]["all"]
    direct = evaluate_logged_policy(shared_data, "all", estimators=["dm", "ips"], n_bootstrap=50)
    dm, fixed = got["estimators"]["dm"], direct.estimators["dm"]
    assert dm["estimate"] == pytest.approx(fixed.estimate)  # the same point estimate
    assert dm["ci_high"] - dm["ci_low"] > 5 * (fixed.interval.high - fixed.interval.low)
    assert got["estimators"]["ips"] == json.loads(json.dumps(direct.estimators["ips"].to_dict()))
    assert got["settings"]["refit_resamples"] == 4
    assert "refitted on each of 4 resamples" in (out / "report.md").read_text()


@pytest.mark.data
def test_ope_shows_the_data_layers_warnings_as_yellow_lines(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distillrank.bandits.ope as ope

    real = ope.evaluate_logged_policy

    def warning_first(*args: object, **kwargs: object) -> object:
        warnings.warn("bts: the log shows 30% of slot 1's mass", DataWarning, stacklevel=1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ope, "evaluate_logged_policy", warning_first)
    out = tmp_path / "ope"
    args = ["bandits", "ope", "--campaign", "women", "--estimators", "ips,dr", "--bootstrap", "50"]
    args += ["--refit-resamples", "0"]
    result = runner.invoke(app, [*args, "--data-dir", str(shared_data), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: bts: the log shows 30% of slot 1's mass" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["warnings"] == {"women": ["bts: the log shows 30% of slot 1's mass"]}
    assert list(metrics["campaigns"]["women"]["estimators"]) == ["ips", "dr"]
    assert "**Warning**: bts: the log shows" in (out / "report.md").read_text()


@pytest.mark.data
@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (["simulate", "--policy", "ucbb"], "--policy", "did you mean 'ucb1'"),
        (["simulate", "--policy", "ucb1:alpha=-1"], "--policy ucb1:alpha=-1", "alpha must be > 0"),
        (["simulate", "--policy", "ucb1:beta=2"], "--policy ucb1:beta=2", "no parameter 'beta'"),
        (["simulate", "--policy", "thompson:prior_a=x"], "--policy", "prior_a must be a number"),
        (["simulate", "--policy", "lin_ucb"], "--policy lin_ucb", "needs item features"),
        (["simulate", "--policy", "lin_ucb:features=1"], "--policy", "no parameter 'features'"),
        (
            ["simulate", "--env", "lightgbm-lambdarank", "--policy", "lin_ts:v=0"],
            "--policy lin_ts:v=0",
            "v must be > 0",
        ),
        (["simulate", "--rounds", "0"], "--rounds", ">= 1"),
        (["simulate", "--seeds", "0"], "--seeds", ">= 1"),
        (["simulate", "--feedback", "dbn"], "--feedback", "pbm, cascade"),
        (["simulate", "--feedback", "cascade"], "--feedback cascade", "does not apply to --env obd"),
        (["simulate", "--campaign", "kids"], "--campaign", "all, men, women"),
        (["simulate", "--env", "nowhere"], "--env nowhere", "neither a catalogued dataset"),
        (["simulate", "--env", "ml-100k"], "--env ml-100k", "'interactions'"),
        (
            ["simulate", "--env", "lightgbm-lambdarank", "--eps-minus", "0.5", "--eps-plus", "0.2"],
            "--eps-minus",
            "--eps-plus",
        ),
        (["simulate", "--env", "yandex-wscd-sample", "--eta", "2"], "--eta", "the PBM fitted on it"),
        (["ope", "--estimators", "ips,drr"], "--estimators", "did you mean 'dr'"),
        (["ope", "--campaign", "men,kids"], "--campaign", "unknown campaign 'kids'"),
        (["ope", "--evaluation", "random"], "--evaluation", "must differ"),
        (["ope", "--bootstrap", "10"], "--bootstrap", ">= 50"),
        (["ope", "--seed", "-1"], "--seed", ">= 0"),
        (["simulate", "--env", "obd", "--policy", "thompson:prior_a=1e999"], "--policy", "finite number"),
        (["simulate", "--env", "obd", "--policy", "ucb1:alpha=1,alpha=2"], "--policy", "given twice"),
        (["ope", "--refit-resamples", "-1"], "--refit-resamples", ">= 0"),
        (["ope", "--reward-model", "xgb"], "--reward-model", "logistic, lightgbm"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_naming_the_option(
    shared_data: Path, tmp_path: Path, args: list[str], option: str, words: str
) -> None:
    result = runner.invoke(
        app, ["bandits", *args, "--data-dir", str(shared_data), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    line = _error_line(result.output)
    assert option in line and words in line, line
    assert not (tmp_path / "out").exists()


def test_the_ope_default_estimators_are_the_librarys() -> None:
    default = inspect.signature(bandits_cli.ope).parameters["estimators"].default
    assert tuple(default.split(",")) == DEFAULT_ESTIMATORS
