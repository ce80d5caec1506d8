"""Transfer queries: unlabelled queries on which the teacher labels candidates for the students.

Hinton et al. (2015, §2) distil on a *transfer set*: inputs the student sees with the teacher's outputs
as targets, labelled or not. On the judged training queries the teacher can only re-tell the qrels, and
with a teacher trained on those same queries it re-tells them with noise; where it adds information is on
queries nobody judged. A search team has those in its query log; a collection on disk has its documents.
So the transfer set is either

* a **query file** — real unlabelled queries: a BEIR ``queries.jsonl``, a ``qid<TAB>text`` file or TREC
  topics (:func:`read_transfer_queries`); or
* **pseudo-queries** sampled from the corpus (:func:`pseudo_queries`): one sentence of a document's text,
  as in the inverse cloze task of Lee et al. (2019, "Latent Retrieval for Weakly Supervised Open Domain
  Question Answering", ACL), here with the sentence left in its document. Scientific claims, questions
  and keyword queries all share words with the sentences that answer them; a sentence is the nearest
  thing to a query that a corpus holds without a query generator (doc2query, InPars), which needs a
  generative model this package does not assume.

The teacher scores each transfer query's first-stage candidates, and the distilled students learn from
those scores on the transfer queries *and* from their usual targets on the judged ones; qrels-only
students never see the transfer set. Transfer queries have no labels, so the label part of a target
falls back to the teacher (``joint``: the teacher's top-1; ``rd``: every candidate is unlabelled).

Example:
    >>> from distillrank.data.collection import Corpus
    >>> corpus = Corpus(["d1"], ["A title"], ["Short. Aspirin lowers the risk of a second heart attack."])
    >>> pseudo_queries(corpus, 1, seed=0, min_words=4)
    {'pseudo-d1-0': 'Aspirin lowers the risk of a second heart attack.'}
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from distillrank.data.collection import Corpus
from distillrank.errors import DataFormatError

__all__ = ["PSEUDO_PREFIX", "pseudo_queries", "read_transfer_queries"]

PSEUDO_PREFIX = "pseudo-"
"""Query ids of pseudo-queries: ``pseudo-<docno>-<n>``."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def _sentences(text: str, min_words: int, max_words: int) -> list[str]:
    parts = _SENTENCE_END.split(" ".join(text.split()))
    return [s for s in parts if min_words <= len(s.split()) <= max_words]


def pseudo_queries(
    corpus: Corpus,
    n: int,
    *,
    seed: int = 0,
    min_words: int = 6,
    max_words: int = 40,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> dict[str, str]:
    """``n`` pseudo-queries, each one sentence of a different document's text (title excluded).

    Documents are drawn uniformly without replacement from those with a sentence of ``min_words`` to
    ``max_words`` words (split after ``.``, ``!`` or ``?`` before an upper-case letter, a digit or a
    bracket); one such sentence is drawn from each. Fewer than ``n`` come back when fewer documents have
    one. Deterministic for a ``seed`` and a corpus.

    Args:
        corpus: the documents.
        n: how many pseudo-queries.
        seed: the draw's seed.
        min_words, max_words: the sentence lengths kept.
        exclude: query texts not to produce (e.g. the collection's own queries), compared case-blind.

    Returns:
        ``{qid: text}`` with ``qid = "pseudo-<docno>-<k>"``, in draw order.
    """
    if n < 0 or min_words < 1 or max_words < min_words:
        raise ValueError(f"need n >= 0 and 1 <= min_words <= max_words (got {n}, {min_words}, {max_words})")
    rng = random.Random(seed)
    order = list(range(len(corpus)))
    rng.shuffle(order)
    banned = {q.strip().lower() for q in exclude}
    out: dict[str, str] = {}
    for i in order:
        if len(out) >= n:
            break
        options = [s for s in _sentences(corpus.texts[i], min_words, max_words) if s.lower() not in banned]
        if not options:
            continue
        k = rng.randrange(len(options))
        out[f"{PSEUDO_PREFIX}{corpus.docnos[i]}-{k}"] = options[k]
    return out


def read_transfer_queries(path: str | Path) -> dict[str, str]:
    """Unlabelled queries from a file: BEIR ``queries.jsonl`` (``.gz`` too), TREC topics or ``qid<TAB>text``.

    Raises:
        DataFormatError: a missing or empty file, or a malformed line (named by the reader).
    """
    from distillrank.data.formats.beir import read_beir_queries
    from distillrank.data.formats.trec import read_trec_topics

    p = Path(path)
    if not p.is_file():
        raise DataFormatError(p, None, "transfer query file not found")
    name = p.name.lower().removesuffix(".gz")
    queries = read_beir_queries(p) if name.endswith((".jsonl", ".json")) else read_trec_topics(p)
    if not len(queries):
        raise DataFormatError(p, None, "no queries in the transfer query file")
    return dict(queries.items())
