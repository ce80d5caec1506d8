r"""Run exploration policies in a click environment and measure their regret.

The **pseudo-regret** of round ``t`` is the best expected reward of the round's context minus the
expected reward of the slate the policy chose (Bubeck and Cesa-Bianchi 2012, Sec. 1)::

    regret_t = r(a*_{c_t}) - r(a_t)         R(T) = sum_{t <= T} regret_t

with ``r`` the expected clicks of :mod:`distillrank.bandits.environments`: it does not depend on the
clicks drawn, so it measures the choices alone. :func:`compare_policies` runs every policy with every
seed and reports the mean of ``R`` over seeds and its standard error (``std / sqrt(n_seeds)``) at
checkpoints, the clicks per round, and ``R(T) / R(T/2)``: 2 for a policy whose regret grows linearly
(fixed epsilon-greedy, uniform), close to 1 for a logarithmic one (``1 + log 2 / log(T/2)``, 1.06 at
``T = 100,000``).

Seeds: seed ``s`` draws the environment's randomness (the query of every round, one uniform per
position and round) from ``numpy.random.default_rng([s, 0])`` and the policy's from ``[s, 1]``, so that
every policy of a seed meets the same users (common random numbers), and a run repeats exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillrank.bandits.environments import Environment
from distillrank.bandits.policies import POLICIES, Policy, make_policy

__all__ = [
    "DEFAULT_POLICIES",
    "BanditConfig",
    "PolicyRegret",
    "PolicyRun",
    "PolicySpec",
    "RegretResult",
    "checkpoint_rounds",
    "compare_policies",
    "run_policy",
    "simulate",
]

Progress = Callable[[str, int], None]
"""Called with a policy's label and a seed when that run is done."""


@dataclass(frozen=True)
class PolicySpec:
    """A policy by name (:data:`~distillrank.bandits.policies.POLICIES`) with hyper-parameters.

    Attributes:
        name: the registry name.
        params: hyper-parameters of the policy's dataclass.
        label: how results name it (default: ``name``, then ``key=value`` pairs, e.g.
            ``epsilon_greedy(epsilon=0.1)``).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"unknown policy {self.name!r}; known: {', '.join(POLICIES)}")
        object.__setattr__(self, "params", dict(self.params))

    @property
    def key(self) -> str:
        if self.label is not None:
            return self.label
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"

    @classmethod
    def parse(cls, text: str) -> PolicySpec:
        """``"name"`` or ``"name:key=value,key=value"`` (numbers as numbers), e.g. ``"ucb1:alpha=2"``."""
        name, _, rest = text.partition(":")
        params: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            if not eq:
                raise ValueError(f"{text!r}: a parameter is key=value, got {part!r}")
            if key.strip() in params:
                raise ValueError(f"{text!r}: parameter {key.strip()!r} is given twice")
            try:
                number = float(value) if any(ch in value for ch in ".eE") else int(value)
            except ValueError:
                params[key.strip()] = value.strip()
                continue
            if not math.isfinite(number):
                raise ValueError(
                    f"{text!r}: parameter {key.strip()!r} must be a finite number, got {value.strip()!r}"
                )
            params[key.strip()] = number
        return cls(name.strip(), params)


DEFAULT_POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec("uniform"),
    PolicySpec("epsilon_greedy", {"epsilon": 0.1}),
    PolicySpec("epsilon_greedy_decay"),
    PolicySpec("ucb1"),
    PolicySpec("kl_ucb"),
    PolicySpec("thompson"),
)


@dataclass(frozen=True)
class BanditConfig:
    """Settings of :func:`simulate`.

    Attributes:
        rounds: ``T``, rounds per run.
        seeds: one run per seed and policy (module docstring).
        policies: what to compare (labels must differ).
        checkpoints: how many evenly spaced rounds to report (``T/10``, ``T/2`` and ``T`` always are).
    """

    rounds: int = 10_000
    seeds: tuple[int, ...] = tuple(range(10))
    policies: tuple[PolicySpec, ...] = DEFAULT_POLICIES
    checkpoints: int = 20

    def __post_init__(self) -> None:
        for name in ("rounds", "checkpoints"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        policies = self.policies
        if isinstance(policies, str | PolicySpec):  # one policy: "thompson", "ucb1:alpha=2" or a spec
            policies = (policies,)
        specs = tuple(PolicySpec.parse(p) if isinstance(p, str) else p for p in policies)
        wrong = [p for p in specs if not isinstance(p, PolicySpec)]
        if wrong:
            raise TypeError(
                f"policies must be PolicySpec objects or names such as 'ucb1:alpha=2', got {wrong[0]!r}"
            )
        object.__setattr__(self, "policies", specs)
        keys = [p.key for p in self.policies]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError(f"policies must be at least one, with distinct labels, got {keys}")


@dataclass(frozen=True, eq=False)
class PolicyRun:
    """One run: per-round pseudo-regret and clicks (``[T]`` each), its seed and wall time."""

    seed: int
    regret: np.ndarray
    clicks: np.ndarray
    seconds: float

    @property
    def cumulative_regret(self) -> np.ndarray:
        """``[T]`` ``R(t)`` for ``t = 1..T``."""
        return np.cumsum(self.regret)


def run_policy(env: Environment, policy: Policy, rounds: int, seed: int) -> PolicyRun:
    """Run ``policy`` (reset first) for ``rounds`` rounds in ``env`` with ``seed`` (module docstring)."""
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    env_rng, pol_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    contexts = env.draw_contexts(env_rng, rounds)
    uniforms = env_rng.random((rounds, env.slate_size))
    queries = [env.context(i) for i in range(env.n_contexts)]
    policy.reset()
    slates = np.empty((rounds, env.slate_size), dtype=np.int64)
    clicks = np.empty(rounds, dtype=np.int64)
    t0 = time.perf_counter()
    for t, c in enumerate(contexts.tolist()):
        slate = policy.select(pol_rng, c)
        click = queries[c].clicks_from_uniforms(slate, uniforms[t])
        policy.update(slate, click, c)
        slates[t] = slate
        clicks[t] = click.sum()
    seconds = time.perf_counter() - t0
    regret = env.optimal_rewards()[contexts] - env.context_rewards(slates, contexts)
    return PolicyRun(int(seed), regret, clicks, seconds)


def checkpoint_rounds(rounds: int, n: int) -> list[int]:
    """``n`` evenly spaced rounds up to ``rounds``, with ``rounds // 10`` and ``rounds // 2`` added."""
    grid = {round(rounds * (i + 1) / n) for i in range(n)} | {rounds // 10, rounds // 2, rounds}
    return sorted(t for t in grid if t >= 1)


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over axis 0 and its standard error (``None`` with one seed)."""
    if x.shape[0] < 2:
        return x.mean(axis=0), None
    return x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])


@dataclass(frozen=True, eq=False)
class PolicyRegret:
    """One policy's results over seeds.

    Attributes:
        spec: the policy.
        regret_mean, regret_se: ``[n_checkpoints]`` mean cumulative regret over seeds and its standard
            error (``None`` with one seed).
        final_regret: ``R(T)`` of each seed.
        clicks_per_round, clicks_per_round_se: mean clicks per round over the run, over seeds.
        growth: ``mean R(T) / mean R(T/2)`` (module docstring; ``nan`` when ``R(T/2) = 0``).
        seconds: mean wall time of a run.
    """

    spec: PolicySpec
    regret_mean: np.ndarray
    regret_se: np.ndarray | None
    final_regret: np.ndarray
    clicks_per_round: float
    clicks_per_round_se: float | None
    growth: float
    seconds: float


@dataclass(frozen=True, eq=False)
class RegretResult:
    """What :func:`compare_policies` measured (:meth:`to_dict` is JSON-ready).

    Attributes:
        rounds, seeds: the runs; checkpoints: the rounds ``regret_mean`` is reported at.
        optimal_clicks_per_round: the best slates' expected clicks, averaged over the rounds' contexts.
        policies: results by label, in the order given.
    """

    rounds: int
    seeds: tuple[int, ...]
    checkpoints: list[int]
    optimal_clicks_per_round: float
    policies: dict[str, PolicyRegret]

    def regret_at(self, label: str, t: int) -> tuple[float, float | None]:
        """``(mean, standard error)`` of ``R(t)`` for a checkpoint ``t``.

        Raises:
            KeyError: ``label`` is not a policy of the result (the message lists them).
            ValueError: ``t`` is not a checkpoint (the message lists them).
        """
        if label not in self.policies:
            raise KeyError(f"no policy {label!r} in this result; it has: {', '.join(self.policies)}")
        if t not in self.checkpoints:
            shown = ", ".join(map(str, self.checkpoints[:8])) + (", ..." if len(self.checkpoints) > 8 else "")
            raise ValueError(f"round {t} is not a checkpoint of this result; the checkpoints are {shown}")
        i = self.checkpoints.index(t)
        p = self.policies[label]
        return float(p.regret_mean[i]), None if p.regret_se is None else float(p.regret_se[i])

    def to_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "rounds": self.rounds,
            "seeds": list(self.seeds),
            "checkpoints": list(self.checkpoints),
            "optimal_clicks_per_round": self.optimal_clicks_per_round,
            "policies": {
                label: {
                    "name": p.spec.name,
                    "params": dict(p.spec.params),
                    "regret_mean": p.regret_mean.tolist(),
                    "regret_se": None if p.regret_se is None else p.regret_se.tolist(),
                    "final_regret_per_seed": p.final_regret.tolist(),
                    "regret_T_over_half_T": num(p.growth),
                    "clicks_per_round": p.clicks_per_round,
                    "clicks_per_round_se": num(p.clicks_per_round_se),
                    "seconds_per_run": p.seconds,
                }
                for label, p in self.policies.items()
            },
        }


def compare_policies(
    env: Environment,
    policy_specs: Sequence[PolicySpec | str],
    rounds: int,
    seeds: Sequence[int],
    *,
    checkpoints: int = 20,
    progress: Progress | None = None,
) -> RegretResult:
    """Run every policy (a spec, or a name with default hyper-parameters) with every seed in ``env``.

    Raises:
        ValueError: invalid settings (as :class:`BanditConfig`) or hyper-parameters.
    """
    specs = tuple(PolicySpec(s) if isinstance(s, str) else s for s in policy_specs)
    config = BanditConfig(rounds, tuple(seeds), specs, checkpoints)
    ticks = checkpoint_rounds(config.rounds, config.checkpoints)
    at = np.asarray(ticks) - 1
    optimal: list[float] = []
    out: dict[str, PolicyRegret] = {}
    for spec in config.policies:
        policy = make_policy(spec.name, env, **spec.params)
        runs = []
        for seed in config.seeds:
            runs.append(run_policy(env, policy, config.rounds, seed))
            if progress is not None:
                progress(spec.key, seed)
        cum = np.stack([r.cumulative_regret for r in runs])
        mean, se = _mean_se(cum[:, at])
        clicks, clicks_se = _mean_se(np.array([[r.clicks.mean()] for r in runs]))
        half = cum[:, config.rounds // 2 - 1].mean() if config.rounds >= 2 else 0.0
        out[spec.key] = PolicyRegret(
            spec,
            mean,
            se,
            cum[:, -1],
            float(clicks[0]),
            None if clicks_se is None else float(clicks_se[0]),
            float(cum[:, -1].mean() / half) if half > 0 else float("nan"),
            float(np.mean([r.seconds for r in runs])),
        )
        if not optimal:
            best = env.optimal_rewards()
            for seed in config.seeds:
                contexts = env.draw_contexts(np.random.default_rng([seed, 0]), config.rounds)
                optimal.append(float(best[contexts].mean()))
    return RegretResult(config.rounds, config.seeds, ticks, float(np.mean(optimal)), out)


def simulate(env: Environment, config: BanditConfig, progress: Progress | None = None) -> RegretResult:
    """:func:`compare_policies` with the settings of ``config`` (the entry point of a command line)."""
    return compare_policies(
        env, config.policies, config.rounds, config.seeds, checkpoints=config.checkpoints, progress=progress
    )
