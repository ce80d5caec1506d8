"""Benchmark: click models on the Yandex WSCD sample (fit on train sessions, evaluate on test sessions).

Run:  python bench/click_models.py [--data-dir ../shared/data] [--max-iter 200] [--tol 1e-6]
Fits PBM, CM, DCM, UBM, DBN and SDBN on the train split and reports, on the test split, the
log-likelihood (mean over sessions of the mean over ranks of ln P(c_r | clicks above); higher is
better) and the perplexity (2^-mean log2 P(c_r) from unconditional click probabilities, per rank and
averaged over ranks; lower is better), with the fit time. CM is also scored with PyClick's rule (every
result below the first click at 1e-6). Definitions: distillrank.feedback.click_models.base.
Writes bench/results/click_models.json.

Published ordering on the full Yandex relevance-prediction log (Chuklin, Markov and de Rijke 2015;
Grotov et al. 2015): UBM and DBN best, CM worst. The sample here holds only 20 queries, so the
ordering may differ; the script reports whether it agrees.
"""

from __future__ import annotations

import argparse
import time
import warnings

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data.catalogue import load_dataset
from distillrank.feedback.click_models import CLICK_MODELS, CascadeModel, ClickModel

LABELS = {"pbm": "PBM", "cm": "CM", "dcm": "DCM", "ubm": "UBM", "dbn": "DBN", "sdbn": "SDBN"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--output", default=str(RESULTS / "click_models.json"))
    args = ap.parse_args()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset("yandex-wscd-sample", data_dir(args.data_dir))
    train, test = ds["train"], ds["test"]
    rows: list[dict[str, object]] = []
    print(f"{'model':16s} {'LL(test)':>9s} {'PPL(test)':>9s} {'fit s':>7s} {'iters':>6s}", end="  ")
    print("perplexity at ranks 1..10")
    fitted: dict[str, ClickModel] = {}
    for name, cls in CLICK_MODELS.items():
        model = cls()
        t0 = time.perf_counter()
        model.fit(train, max_iter=args.max_iter, tol=args.tol)
        fit_s = time.perf_counter() - t0
        fitted[name] = model
        rows.append(evaluate(LABELS[name], model, test, fit_s))
    cm = fitted["cm"]
    assert isinstance(cm, CascadeModel)
    pyclick = CascadeModel(attractiveness=cm.attractiveness, pyclick_likelihood=True)
    pyclick.n_iter_, pyclick.converged_ = cm.n_iter_, cm.converged_
    rows.append(evaluate("CM (PyClick LL)", pyclick, test, rows[1]["fit_s"]))  # type: ignore[arg-type]

    main_rows = [r for r in rows if r["model"] != "CM (PyClick LL)"]
    by_ll = [str(r["model"]) for r in sorted(main_rows, key=lambda r: -float(r["log_likelihood"]))]  # type: ignore[arg-type]
    by_ppl = [str(r["model"]) for r in sorted(main_rows, key=lambda r: float(r["perplexity"]))]  # type: ignore[arg-type]
    agrees_ll = set(by_ll[:2]) == {"UBM", "DBN"} and by_ll[-1] == "CM"
    agrees_ppl = set(by_ppl[:2]) == {"UBM", "DBN"} and by_ppl[-1] == "CM"
    print(f"order by log-likelihood (best first): {' > '.join(by_ll)}")
    print(f"order by perplexity (best first):     {' > '.join(by_ppl)}")
    verdict = {True: "agrees", False: "differs"}
    print(
        f"published ordering (UBM, DBN best; CM worst): log-likelihood {verdict[agrees_ll]}, "
        f"perplexity {verdict[agrees_ppl]}"
    )
    payload = {
        "benchmark": "click_models",
        "machine": machine_info(),
        "data": {
            "dataset": "yandex-wscd-sample",
            "train_sessions": train.n_sessions,
            "test_sessions": test.n_sessions,
            "queries": int(train.df["qid"].nunique()),
            "loader_warnings": [str(w.message) for w in caught],
        },
        "settings": {"max_iter": args.max_iter, "tol": args.tol, "prior": [1.0, 1.0]},
        "definitions": {
            "log_likelihood": "mean over test sessions of mean over ranks of ln P(c_r | clicks above r)",
            "perplexity_at_rank": "2 ** -(mean over sessions of c log2 q + (1-c) log2 (1-q)), q = P(C_r=1) "
            "unconditional",
            "perplexity": "mean of perplexity_at_rank over ranks 1..10",
            "clip": "probabilities clipped to [1e-6, 1 - 1e-6]",
        },
        "results": rows,
        "order_by_log_likelihood": by_ll,
        "order_by_perplexity": by_ppl,
        "published_order": "UBM and DBN best, CM worst (Chuklin et al. 2015, full Yandex log)",
        "agrees_with_published": {"log_likelihood": agrees_ll, "perplexity": agrees_ppl},
    }
    write_json(args.output, payload)
    print(f"wrote {args.output}")


def evaluate(label: str, model: ClickModel, test: object, fit_s: float) -> dict[str, object]:
    from distillrank.data.clicklog import ClickLog

    assert isinstance(test, ClickLog)
    ll = model.log_likelihood(test)
    ppl, per_rank = model.perplexity(test)
    row = {
        "model": label,
        "log_likelihood": round(ll, 5),
        "perplexity": round(ppl, 5),
        "perplexity_at_rank": [round(float(x), 4) for x in per_rank],
        "fit_s": round(fit_s, 3),
        "n_iter": model.n_iter_,
        "converged": model.converged_,
    }
    ranks = " ".join(f"{x:.3f}" for x in per_rank)
    print(f"{label:16s} {ll:9.4f} {ppl:9.4f} {fit_s:7.2f} {model.n_iter_:6d}  {ranks}")
    return row


if __name__ == "__main__":
    main()
