"""svmlight / LETOR / LightGBM feature files: reading, writing, folders, and the LightGBM example."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from distillrank.data.formats.svmlight import read_ltr_folder, read_svmlight, write_svmlight
from distillrank.data.ltr import LTRDataset
from distillrank.errors import DatasetNotFoundError

LETOR = """\
2 qid:10 1:0.5 3:1.25 #docid = GX-01 inc = 1 prob = 0.3
0 qid:10 2:-1 # docid:GX-02
# a comment line

1 qid:7 3:2 1:4 #docid = GX-03
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def reference_svmlight(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A deliberately simple parser (dense, 1-based ids) to check the fast one against."""
    rows, labels = [], []
    for line in path.read_text().splitlines():
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        labels.append(float(body[0]))
        rows.append({int(t.split(":")[0]): float(t.split(":")[1]) for t in body[1:] if "qid:" not in t})
    width = max((max(r) for r in rows if r), default=0)
    X = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        for j, v in r.items():
            X[i, j - 1] = v
    return X, np.asarray(labels)


def test_letor_rows_with_qid_and_docids(tmp_path: Path) -> None:
    ds = read_svmlight(_write(tmp_path / "f.txt", LETOR))
    assert sp.issparse(ds.X) and ds.X.format == "csr" and ds.X.dtype == np.float64
    np.testing.assert_array_equal(ds.dense(), [[0.5, 0, 1.25], [0, -1, 0], [4, 0, 2]])
    np.testing.assert_array_equal(ds.y, [2, 0, 1])
    assert ds.qids.tolist() == ["10", "10", "7"]
    assert ds.docnos is not None and ds.docnos.tolist() == ["GX-01", "GX-02", "GX-03"]
    assert ds.group.tolist() == [2, 1]
    assert ds.X.has_sorted_indices
    X, _ = reference_svmlight(tmp_path / "f.txt")
    np.testing.assert_array_equal(ds.dense(), X)


def test_zero_based_ids_and_options(tmp_path: Path) -> None:
    f = _write(tmp_path / "z.txt", "1 qid:1 0:3 2:1\n0 qid:1 1:2\n")
    ds = read_svmlight(f)
    np.testing.assert_array_equal(ds.dense(), [[3, 0, 1], [0, 2, 0]])
    one = _write(tmp_path / "o.txt", "1 qid:1 1:3 3:1\n")
    assert read_svmlight(one).n_features == 3
    kept = read_svmlight(one, zero_based=True)
    np.testing.assert_array_equal(kept.dense(), [[0, 3, 0, 1]])
    wide = read_svmlight(one, n_features=10)
    assert wide.n_features == 10 and wide.dense()[0, 2] == 1
    assert read_svmlight(one, dtype=np.float32).X.dtype == np.float32


def test_lightgbm_style_with_query_file(tmp_path: Path) -> None:
    data = _write(tmp_path / "rank.train", "1 1:1\n0 2:1\n2 1:3\n0 3:1\n1 1:1\n")
    _write(tmp_path / "rank.train.query", "2\n3\n")
    ds = read_svmlight(data)
    assert ds.qids.tolist() == ["0", "0", "1", "1", "1"]
    assert ds.group.tolist() == [2, 3] and ds.docnos is None
    other = _write(tmp_path / "groups.txt", "1\n4\n")
    assert read_svmlight(data, query_file=other).group.tolist() == [1, 4]


def test_explicit_query_file_must_agree_with_qids(tmp_path: Path) -> None:
    data = _write(tmp_path / "f.txt", "1 qid:a 1:1\n0 qid:a 1:1\n1 qid:b 1:1\n")
    good = _write(tmp_path / "good.query", "2\n1\n")
    assert read_svmlight(data, query_file=good).qids.tolist() == ["a", "a", "b"]


def test_unsorted_features_are_sorted_in_the_matrix(tmp_path: Path) -> None:
    ds = read_svmlight(_write(tmp_path / "f.txt", "1 qid:1 5:5 1:1 3:3\n"))
    assert ds.X.indices.tolist() == [0, 2, 4]
    assert ds.X.data.tolist() == [1, 3, 5]


def test_gzip_and_empty_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("3 qid:1\n1 qid:1 2:0.25\n")
    ds = read_svmlight(path)
    np.testing.assert_array_equal(ds.dense(), [[0, 0], [0, 0.25]])


def test_gzip_lightgbm_finds_the_uncompressed_query_file(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "rank.train.gz", "wt") as f:
        f.write("1 1:1\n0 1:2\n")
    _write(tmp_path / "rank.train.query", "1\n1\n")
    assert read_svmlight(tmp_path / "rank.train.gz").group.tolist() == [1, 1]


@pytest.mark.parametrize("with_qid", [True, False])
def test_write_read_round_trip(tmp_path: Path, with_qid: bool) -> None:
    rng = np.random.default_rng(0)
    X = sp.random(40, 25, density=0.3, format="csr", random_state=1)
    X.data = rng.normal(size=X.nnz) * 10.0 ** rng.integers(-8, 8, size=X.nnz)
    X = sp.csr_matrix(sp.hstack([np.ones((40, 1)), X]))
    qids = np.repeat(np.array(["q1", "q2", "q3", "q4"], dtype=object), 10)
    ds = LTRDataset(
        X, rng.integers(0, 5, 40).astype(np.float64), qids, np.array([f"d{i}" for i in range(40)])
    )
    path = tmp_path / "out" / "ds.txt"
    write_svmlight(ds, path, with_qid=with_qid)
    assert (tmp_path / "out" / "ds.txt.query").exists() is (not with_qid)
    back = read_svmlight(path)
    assert (back.X != ds.X).nnz == 0
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.group.tolist() == ds.group.tolist()
    if with_qid:
        assert back.qids.tolist() == ds.qids.tolist()
    assert back.docnos is not None and back.docnos.tolist() == ds.docnos.tolist()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_write_float32_zero_based_and_query_file_option(tmp_path: Path) -> None:
    X = np.array([[0.1, 0, 3.0], [0, 0.7, 0]], dtype=np.float32)
    ds = LTRDataset(sp.csr_matrix(X), np.array([1.5, 0.0]), np.array(["a", "b"], dtype=object))
    path = tmp_path / "f.svmlight"
    write_svmlight(ds, path, zero_based=True, query_file=True)
    assert path.read_text() == "1.5 qid:a 0:0.1 2:3.0\n0.0 qid:b 1:0.7\n"
    assert (tmp_path / "f.svmlight.query").read_text() == "1\n1\n"
    back = read_svmlight(path, zero_based=True, dtype=np.float32)
    np.testing.assert_array_equal(back.dense(), X)
    write_svmlight(ds, path, with_qid=False, query_file=tmp_path / "g.q")
    assert (tmp_path / "g.q").read_text() == "1\n1\n"
    assert path.read_text().splitlines()[0] == "1.5 1:0.1 3:3.0"


def test_read_ltr_folder_mslr_layout(tmp_path: Path) -> None:
    fold = tmp_path / "Fold1"
    fold.mkdir()
    _write(fold / "train.txt", "1 qid:1 0:1 2:1\n0 qid:1 1:1\n")
    _write(fold / "vali.txt", "1 qid:2 1:1\n")
    _write(fold / "test.txt", "2 qid:3 5:1\n")
    _write(fold / "README.md", "not data")
    ds = read_ltr_folder(fold)
    assert ds.name == "Fold1" and list(ds.splits) == ["train", "valid", "test"]
    assert {s.n_features for s in ds.splits.values()} == {6}  # one width; 0-based from train
    assert ds["valid"].dense()[0, 1] == 1 and ds["test"].dense()[0, 5] == 1
    (tmp_path / "Fold2").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:  # the download's top folder: name its folds
        read_ltr_folder(tmp_path)
    assert str(err.value).endswith(
        f"this is an MSLR/LETOR download: pass one of its folds, e.g. {fold} (Fold1, Fold2)"
    )
    ohsumed = tmp_path / "OHSUMED"  # LETOR 3.0: the folds sit one level further down
    for norm in ("Feature-min", "QueryLevelNorm"):
        (ohsumed / norm / "Fold1").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as err:
        read_ltr_folder(ohsumed)
    assert str(err.value).endswith(
        f"e.g. {ohsumed / 'Feature-min' / 'Fold1'} (Feature-min/Fold1, QueryLevelNorm/Fold1)"
    )


def test_read_ltr_folder_lightgbm_and_svmlight_names(tmp_path: Path) -> None:
    _write(tmp_path / "rank.train", "1 1:1\n0 2:1\n")
    _write(tmp_path / "rank.train.query", "2\n")
    _write(tmp_path / "rank.test", "1 3:1\n")
    _write(tmp_path / "rank.test.query", "1\n")
    ds = read_ltr_folder(tmp_path, name="toy")
    assert ds.name == "toy" and list(ds.splits) == ["train", "test"]
    assert ds["train"].n_features == ds["test"].n_features == 3
    other = tmp_path / "svm"
    other.mkdir()
    _write(other / "my_train.svmlight", "1 qid:1 1:1\n")
    _write(other / "my_test.svmlight", "1 qid:1 1:1\n")
    assert list(read_ltr_folder(other).splits) == ["train", "test"]


def test_read_ltr_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no learning-to-rank split files found"):
        read_ltr_folder(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        read_ltr_folder(tmp_path / "nothing")
    _write(tmp_path / "train.txt", "1 qid:1 1:1\n")
    _write(tmp_path / "rank.train", "1 qid:1 1:1\n")
    with pytest.raises(ValueError, match=r"more than one file for split 'train': rank\.train, train\.txt"):
        read_ltr_folder(tmp_path)
    yahoo = tmp_path / "ltrc_yahoo"
    yahoo.mkdir()
    for name in ("set1.train.txt", "set1.test.txt", "set2.train.txt", "set2.test.txt"):
        _write(yahoo / name, "1 qid:1 1:1\n")
    with pytest.raises(
        ValueError, match=r"set1\.test\.txt, set2\.test\.txt \(.*one data set, e\.g\. Yahoo's"
    ):
        read_ltr_folder(yahoo)


@pytest.mark.data
def test_lightgbm_example(shared_data: Path) -> None:
    folder = shared_data / "ltr" / "lightgbm-lambdarank"
    if not (folder / "rank.train").exists():
        pytest.fail(f"{folder} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    start = time.perf_counter()
    train = read_svmlight(folder / "rank.train")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"rank.train took {elapsed:.2f} s"
    assert (train.n_rows, len(train.query_ids), train.n_features) == (3005, 201, 300)
    assert sorted(set(train.y.tolist())) == [0, 1, 2, 3, 4]
    ds = read_ltr_folder(folder)
    assert list(ds.splits) == ["train", "test"]
    test = ds["test"]
    assert (test.n_rows, len(test.query_ids), test.n_features) == (768, 50, 300)
    assert sorted(set(test.y.tolist())) == [0, 1, 2, 3, 4]
    assert ds["train"].group.tolist() == [int(x) for x in (folder / "rank.train.query").read_text().split()]
    try:
        from sklearn.datasets import load_svmlight_file
    except ImportError:  # compare with the simple reference parser instead
        X_ref, y_ref = reference_svmlight(folder / "rank.train")
    else:
        X_sk, y_ref = load_svmlight_file(str(folder / "rank.train"))
        X_ref = X_sk.toarray()
    np.testing.assert_array_equal(train.dense(), X_ref)
    np.testing.assert_array_equal(train.y, y_ref)


@pytest.mark.data
def test_lightgbm_example_round_trip(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "ltr" / "lightgbm-lambdarank"
    if not (folder / "rank.test").exists():
        pytest.fail(f"{folder} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    test = read_svmlight(folder / "rank.test")
    write_svmlight(test, tmp_path / "rank.test", with_qid=False)
    assert (tmp_path / "rank.test.query").read_text() == (folder / "rank.test.query").read_text()
    back = read_svmlight(tmp_path / "rank.test")
    assert (back.X != test.X).nnz == 0 and back.qids.tolist() == test.qids.tolist()


def test_a_file_whose_first_row_has_no_feature_is_still_svmlight(tmp_path: Path) -> None:
    """``0 qid:1`` (an all-zero row, legal svmlight) first in the file: the format is still recognised."""
    from distillrank.data.formats.detect import load_path

    folder = tmp_path / "ltr"
    folder.mkdir()
    (folder / "train.txt").write_text("0 qid:1\n1 qid:1 1:0.5 3:1\n0 qid:2 2:0.1\n2 qid:2 1:1\n")
    data = load_path(folder)
    assert data["train"].n_rows == 4 and data["train"].X[0].sum() == 0
