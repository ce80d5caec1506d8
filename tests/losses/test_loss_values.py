"""Each loss against a value computed independently, by naive Python loops over tiny lists."""

from __future__ import annotations

import math

import pytest
import torch

from distillrank.losses import (
    bce_loss,
    flops_regularizer,
    hard_label_loss,
    in_batch_softmax_loss,
    joint_loss,
    lambda_loss,
    listnet_loss,
    margin_loss,
    margin_mse_loss,
    mse_loss,
    pair_ce_loss,
    rank_distillation_loss,
    sampled_softmax_loss,
    soft_label_loss,
    softmax_loss,
    triplet_loss,
)

torch.set_num_threads(1)

# Two lists of four; the second has one padded entry (index 3) holding garbage.
S = [[1.0, -0.5, 0.3, 2.0], [0.9, 0.2, -1.2, 99.0]]
Y = [[2.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 7.0]]
T = [[3.0, 0.5, 1.0, -1.0], [1.5, 2.5, 0.0, -42.0]]
M = [[True, True, True, True], [True, True, True, False]]


def tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(S, dtype=torch.float64),
        torch.tensor(Y, dtype=torch.float64),
        torch.tensor(T, dtype=torch.float64),
        torch.tensor(M),
    )


def valid(row: list[float], b: int) -> list[float]:
    return [v for v, keep in zip(row, M[b], strict=True) if keep]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def log_softmax(xs: list[float]) -> list[float]:
    z = math.log(sum(math.exp(x) for x in xs))
    return [x - z for x in xs]


def softmax(xs: list[float]) -> list[float]:
    return [math.exp(v) for v in log_softmax(xs)]


def bce(s: float, t: float) -> float:
    return -(t * math.log(sigmoid(s)) + (1 - t) * math.log(1 - sigmoid(s)))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def per_list(fn) -> list[float]:  # type: ignore[no-untyped-def]
    """Apply ``fn(scores, labels, teacher)`` of valid entries to each list."""
    return [fn(valid(S[b], b), valid(Y[b], b), valid(T[b], b)) for b in range(2)]


def check(loss: torch.Tensor, expected: list[float]) -> None:
    assert loss.shape == (len(expected),)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64))


def test_mse() -> None:
    s, y, _, m = tensors()
    expected = per_list(lambda s, y, t: mean([(a - b) ** 2 for a, b in zip(s, y, strict=True)]))
    check(mse_loss(s, y, mask=m, reduction="none"), expected)


@pytest.mark.parametrize("binarize", [True, False])
def test_bce(binarize: bool) -> None:
    s, y, _, m = tensors()

    def target(label: float) -> float:
        return float(label > 0) if binarize else min(label / 2.0, 1.0)

    expected = per_list(lambda s, y, t: mean([bce(a, target(b)) for a, b in zip(s, y, strict=True)]))
    check(bce_loss(s, y, mask=m, reduction="none", binarize=binarize, max_label=2.0), expected)


def test_sampled_softmax_averages_over_positives() -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        lp = log_softmax([v / 0.5 for v in s])
        return mean([-lp[i] for i in range(len(s)) if y[i] > 0])

    check(sampled_softmax_loss(s, y, mask=m, reduction="none", temperature=0.5), per_list(ref))


def pairs(y: list[float]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(y)) for j in range(len(y)) if y[i] > y[j]]


def test_pair_ce() -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        return mean([math.log(1 + math.exp(-2.0 * (s[i] - s[j]))) for i, j in pairs(y)])

    check(pair_ce_loss(s, y, mask=m, reduction="none", sigma=2.0), per_list(ref))


def test_margin() -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        return mean([max(0.0, 1.5 - (s[i] - s[j])) for i, j in pairs(y)])

    check(margin_loss(s, y, mask=m, reduction="none", margin=1.5), per_list(ref))


@pytest.mark.parametrize("negatives", ["mean", "hardest"])
def test_triplet(negatives: str) -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        pos = [i for i in range(len(y)) if y[i] > 0]
        neg = [j for j in range(len(y)) if y[j] <= 0]
        if negatives == "mean":
            return mean([max(0.0, 2.0 - s[p] + s[n]) for p in pos for n in neg])
        return mean([max(0.0, 2.0 - s[p] + max(s[n] for n in neg)) for p in pos])

    check(triplet_loss(s, y, mask=m, reduction="none", margin=2.0, negatives=negatives), per_list(ref))


def test_listnet() -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        p = softmax([v / 0.7 for v in y])
        return -sum(a * b for a, b in zip(p, log_softmax(s), strict=True))

    check(listnet_loss(s, y, mask=m, reduction="none", temperature=0.7), per_list(ref))


def test_softmax() -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        return -sum(y[i] / sum(y) * log_softmax(s)[i] for i in range(len(s)))

    check(softmax_loss(s, y, mask=m, reduction="none"), per_list(ref))


@pytest.mark.parametrize("variant", ["ndcg2pp", "lambdarank"])
def test_lambdaloss(variant: str) -> None:
    s, y, _, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        n = len(s)
        order = sorted(range(n), key=lambda i: -s[i])
        rank = {i: r + 1 for r, i in enumerate(order)}
        ideal = sorted(y, reverse=True)
        max_dcg = sum((2**g - 1) / math.log2(1 + r + 1) for r, g in enumerate(ideal))
        gain = [(2 ** y[i] - 1) / max_dcg for i in range(n)]
        total = 0.0
        for i, j in pairs(y):
            rho = abs(1 / math.log2(1 + rank[i]) - 1 / math.log2(1 + rank[j]))
            weight = rho
            if variant == "ndcg2pp":
                gap = abs(rank[i] - rank[j])
                weight += 3.0 * (1 / math.log2(1 + gap) - 1 / math.log2(2 + gap))
            weight *= abs(gain[i] - gain[j])
            total += -weight * math.log2(sigmoid(s[i] - s[j]))
        return total

    check(lambda_loss(s, y, mask=m, reduction="none", variant=variant, mu=3.0), per_list(ref))


@pytest.mark.parametrize("symmetric", [False, True])
def test_in_batch_softmax_multi_positive_and_masked(symmetric: bool) -> None:
    # 3 queries x 5 documents; query 0 has two positives; (1, 0) is a known false negative (masked);
    # query 2's row is fully padded.
    sim = [
        [2.0, 0.5, -1.0, 1.0, 0.0],
        [7.0, 1.5, 0.2, -0.3, 0.8],
        [0.1, 0.2, 0.3, 0.4, 0.5],
    ]
    lab = [[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]]
    msk = [[True] * 5, [False, True, True, True, True], [False] * 5]
    tau = 0.5

    def row_term(b: int, n: int) -> float:
        cols = [k for k in range(5) if msk[b][k]]
        lp = log_softmax([sim[b][k] / tau for k in cols])
        return -lp[cols.index(n)]

    def col_term(b: int, n: int) -> float:
        rows = [c for c in range(3) if msk[c][n]]
        lp = log_softmax([sim[c][n] / tau for c in rows])
        return -lp[rows.index(b)]

    expected = []
    for b in range(3):
        positives = [n for n in range(5) if lab[b][n] and msk[b][n]]
        terms = [0.5 * (row_term(b, n) + col_term(b, n)) if symmetric else row_term(b, n) for n in positives]
        expected.append(mean(terms))
    loss = in_batch_softmax_loss(
        torch.tensor(sim, dtype=torch.float64),
        torch.tensor(lab),
        mask=torch.tensor(msk),
        reduction="none",
        temperature=tau,
        symmetric=symmetric,
    )
    check(loss, expected)
    assert expected[2] == 0.0


@pytest.mark.parametrize(
    ("mode", "top_k"), [("pointwise", 1), ("pointwise", 2), ("pairwise", 2), ("listwise", 1), ("listwise", 2)]
)
def test_hard_label(mode: str, top_k: int) -> None:
    s, y, t, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        best = sorted(range(len(t)), key=lambda i: -t[i])[:top_k]
        target = [1.0 if i in best else 0.0 for i in range(len(t))]
        if mode == "pointwise":
            return mean([bce(a, b) for a, b in zip(s, target, strict=True)])
        if mode == "listwise":
            log_q = log_softmax(s)
            return -sum(h / sum(target) * lq for h, lq in zip(target, log_q, strict=True))
        return mean([math.log(1 + math.exp(-(s[i] - s[j]))) for i, j in pairs(target)])

    check(hard_label_loss(s, y, teacher_scores=t, mask=m, reduction="none", mode=mode, top_k=top_k),
          per_list(ref))  # fmt: skip


@pytest.mark.parametrize("divergence", ["kl", "ce"])
def test_soft_label(divergence: str) -> None:
    s, _, t, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        p = softmax([v / 2.0 for v in t])
        log_q = log_softmax([v / 2.0 for v in s])
        if divergence == "kl":
            return 4.0 * sum(p[i] * (math.log(p[i]) - log_q[i]) for i in range(len(p)))
        return -4.0 * sum(p[i] * log_q[i] for i in range(len(p)))

    out = soft_label_loss(
        s, teacher_scores=t, mask=m, reduction="none", temperature=2.0, divergence=divergence
    )
    check(out, per_list(ref))


def test_joint_uses_labels_and_falls_back_to_the_teacher_top1() -> None:
    s, y, t, m = tensors()
    y[1] = 0.0  # the second list has no positive label: its hard target is the teacher's top-1
    labels = [[2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]

    def hard(s: list[float], target: list[float]) -> float:
        return -sum(target[i] / sum(target) * log_softmax(s)[i] for i in range(len(s)))

    def soft(s: list[float], t: list[float]) -> float:
        p = softmax(t)
        return sum(p[i] * (math.log(p[i]) - log_softmax(s)[i]) for i in range(len(p)))

    def top1(t: list[float]) -> list[float]:
        return [1.0 if i == max(range(len(t)), key=t.__getitem__) else 0.0 for i in range(len(t))]

    expected, no_labels = [], []
    for b in range(2):
        sv, tv = valid(S[b], b), valid(T[b], b)
        target = labels[b] if any(v > 0 for v in labels[b]) else top1(tv)
        expected.append(0.3 * hard(sv, target) + 0.7 * soft(sv, tv))
        no_labels.append(0.3 * hard(sv, top1(tv)) + 0.7 * soft(sv, tv))
    check(joint_loss(s, y, teacher_scores=t, mask=m, reduction="none", alpha=0.3), expected)
    check(joint_loss(s, teacher_scores=t, mask=m, reduction="none", alpha=0.3), no_labels)


@pytest.mark.parametrize("pairs_", ["first", "all"])
def test_margin_mse(pairs_: str) -> None:
    s, _, t, m = tensors()

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        n = len(s)
        ps = (
            [(0, j) for j in range(1, n)]
            if pairs_ == "first"
            else [(i, j) for i in range(n) for j in range(i + 1, n)]
        )
        return mean([((s[i] - s[j]) - (t[i] - t[j])) ** 2 for i, j in ps])

    check(margin_mse_loss(s, teacher_scores=t, mask=m, reduction="none", pairs=pairs_), per_list(ref))


@pytest.mark.parametrize("weighting", ["uniform", "inverse", "exp", "dynamic", "hybrid"])
@pytest.mark.parametrize("with_labels", [True, False])
def test_rank_distillation(weighting: str, with_labels: bool) -> None:
    s, y, t, m = tensors()
    k, lam, mu, alpha = 2, 2.0, 0.8, 0.4

    def ref(s: list[float], y: list[float], t: list[float]) -> float:
        n = len(s)
        cands = [i for i in range(n) if not (with_labels and y[i] > 0)]
        top = sorted(cands, key=lambda i: -t[i])[:k]
        student_rank = {i: r + 1 for r, i in enumerate(sorted(range(n), key=lambda i: -s[i]))}
        r = list(range(1, len(top) + 1))
        exp_w = [math.exp(-q / lam) for q in r]
        exp_w = [w / sum(exp_w) for w in exp_w]
        dyn = [math.tanh(max(0.0, mu * (student_rank[i] - q))) for i, q in zip(top, r, strict=True)]
        w = {
            "uniform": [1 / len(top)] * len(top),
            "inverse": [(1 / q) / sum(1 / p for p in r) for q in r],
            "exp": exp_w,
            "dynamic": dyn,
            "hybrid": [a * b for a, b in zip(exp_w, dyn, strict=True)],
        }[weighting]
        loss = alpha * -sum(wi * math.log(sigmoid(s[i])) for wi, i in zip(w, top, strict=True))
        if with_labels:
            loss += mean([bce(a, float(b > 0)) for a, b in zip(s, y, strict=True)])
        return loss

    out = rank_distillation_loss(
        s,
        y if with_labels else None,
        teacher_scores=t,
        mask=m,
        reduction="none",
        top_k=k,
        weighting=weighting,
        lam=lam,
        mu=mu,
        alpha=alpha,
    )
    check(out, per_list(ref))


def test_rank_distillation_dynamic_weights_are_not_all_zero_here() -> None:
    # guard that the example above really exercises the rank-discrepancy weights
    s, _, t, m = tensors()
    out = rank_distillation_loss(s, teacher_scores=t, mask=m, reduction="none", top_k=2, weighting="dynamic")
    assert (out > 0).all()


def test_rank_distillation_softmax_ground_truth() -> None:
    # -log softmax([0, 0, 0])_0 = log 3, plus 0.5 * (1/2 + 1/2) * log 3 (K=2 extra positives, uniform)
    s, t = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 1.0]])
    y = torch.tensor([[1.0, 0.0, 0.0]])
    out = rank_distillation_loss(s, y, teacher_scores=t, top_k=2, weighting="uniform", ground_truth="softmax")
    assert out.item() == pytest.approx(1.5 * math.log(3), abs=1e-6)
    # scores [0, 1, 2]: log-softmax = [-2.4076, -1.4076, -0.4076]; extra positives d2 (r=1), d3 (r=2)
    s2 = torch.tensor([[0.0, 1.0, 2.0]])
    lse = math.log(1 + math.e + math.e**2)
    out2 = rank_distillation_loss(
        s2, y, teacher_scores=t, top_k=2, weighting="inverse", ground_truth="softmax"
    )
    expected = lse + 0.5 * ((2 / 3) * (lse - 1.0) + (1 / 3) * (lse - 2.0))
    assert out2.item() == pytest.approx(expected, abs=1e-5)
    # the listwise ground truth does not move when every score shifts; the BCE does
    shifted = s - 5.0
    soft = rank_distillation_loss(shifted, y, teacher_scores=t, top_k=2, alpha=0.0, ground_truth="softmax")
    bce = rank_distillation_loss(shifted, y, teacher_scores=t, top_k=2, alpha=0.0)
    assert soft.item() == pytest.approx(math.log(3), abs=1e-6)
    assert bce.item() > 1.5
    with pytest.raises(ValueError, match="ground_truth"):
        rank_distillation_loss(s, y, teacher_scores=t, ground_truth="mse")


def test_flops_regularizer() -> None:
    reps = [[0.0, 1.0, -2.0], [3.0, 0.0, 0.5], [1.0, 1.0, 0.0]]
    expected = sum((sum(abs(r[j]) for r in reps) / 3) ** 2 for j in range(3))
    assert flops_regularizer(torch.tensor(reps, dtype=torch.float64)).item() == pytest.approx(expected)
    assert flops_regularizer(torch.zeros(0, 4)).item() == 0.0
