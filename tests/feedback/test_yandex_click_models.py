"""Click models on the real Yandex WSCD sample: fit on train sessions, evaluate on test sessions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from distillrank.data.catalogue import load_dataset
from distillrank.data.clicklog import ClickLog
from distillrank.feedback.click_models import PBM, UBM, CascadeModel

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def yandex(shared_data: Path) -> tuple[ClickLog, ClickLog]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample's clicks on unlisted documents (see the reader)
        ds = load_dataset("yandex-wscd-sample", shared_data)
    return ds["train"], ds["test"]


def test_pbm_on_yandex(yandex: tuple[ClickLog, ClickLog]) -> None:
    train, test = yandex
    pbm = PBM().fit(train, max_iter=100)
    overall, per_rank = pbm.perplexity(test)
    # measured: 1.434 overall, 1.77 at rank 1 falling to 1.25 at rank 10
    assert np.isfinite(per_rank).all() and 1.0 < overall < 1.5
    assert per_rank[0] > per_rank[-1]  # the top ranks get most clicks, so they are the hardest to predict
    assert -0.40 < pbm.log_likelihood(test) < -0.30  # measured -0.352
    assert pbm.examination is not None
    assert np.all(np.diff(pbm.examination[:8]) < 0.02)  # examination falls with rank (nearly monotone)


def test_ubm_beats_pbm_beats_cm_in_log_likelihood(yandex: tuple[ClickLog, ClickLog]) -> None:
    train, test = yandex
    ll = {
        m.__class__.__name__: m.fit(train, max_iter=100).log_likelihood(test)
        for m in (PBM(), UBM(), CascadeModel())
    }
    assert ll["UBM"] > ll["PBM"] > ll["CascadeModel"]  # measured -0.324 > -0.352 > -7.9
