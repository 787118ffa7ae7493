# Your attempt at the `rank_fusion` kata: fill in every TODO, then run
#     nox -s kata -- rank_fusion
# Generated from solutions/rank_fusion.py; `dojo reset rank_fusion` archives this file and starts over.
"""Rank fusion and diversification: reciprocal rank fusion and maximal marginal relevance.

Build three functions:

    rrf_scores(rankings, k=60)                  -> dict id -> fused score
    reciprocal_rank_fusion(rankings, k=60)      -> list of ids, best first
    mmr(query_vec, doc_vecs, lambda_, top_k)    -> list of int indices into doc_vecs

Reciprocal rank fusion (RRF)
----------------------------
`rankings` is a list of ranked lists of document ids (any hashable ids), each best first and
without repeats; the lists may have different lengths and need not share ids. A document's
fused score sums over the rankings that contain it:

    score(d) = sum over rankings r containing d of 1 / (k + rank_r(d)),   rank starting at 1

A ranking that does not contain d adds nothing (not 1 / (k + 0)). Return every id that appears
anywhere, sorted by fused score, highest first. Ties keep the order of first appearance: read
the rankings in order, each from best to worst, and an id earlier in that reading comes first.
`rrf_scores` returns the scores as a dict in that order; `reciprocal_rank_fusion` sorts its
keys. `rankings = []` gives {} and [].

Maximal marginal relevance (MMR)
--------------------------------
query_vec is (d,) and doc_vecs is (n, d), float64, neither normalised, no zero vector. With
cosine similarity sim(u, v) = u . v / (|u| |v|), pick documents greedily:
- the first pick is the most relevant document, argmax_i sim(q, d_i);
- each next pick maximises, over the documents not yet selected,
      lambda_ * sim(q, d_i) - (1 - lambda_) * max over selected s of sim(d_i, d_s)
  (the maximum similarity to the selected set, not the sum or the mean).
Ties go to the lower index. Stop after min(top_k, n) picks (top_k = 0 gives []); a document is
never selected twice. lambda_ = 1 is plain ranking by relevance; lambda_ = 0 is pure diversity
after the first pick.

Pitfalls an interviewer looks for
---------------------------------
- RRF ranks start at 1 (1 / (k + 0) would over-reward the top), and k goes inside the
  reciprocal: 1 / (k + rank), not k + 1 / rank.
- MMR on raw dot products: with unnormalised vectors long documents dominate; normalise the
  documents AND the query. Penalise by the max similarity to the selected set, and mask out
  documents already selected.
"""

from collections import defaultdict

import numpy as np


def rrf_scores(rankings, k=60):
    """Fused RRF score of every id. -> dict id -> float, in order of first appearance."""
    # TODO: add 1 / (k + rank) to an id's score for every ranking that contains it
    raise NotImplementedError("TODO: add 1 / (k + rank) to an id's score for every ranking that contains it")


def reciprocal_rank_fusion(rankings, k=60):
    """Fuse ranked lists of ids (each best first). -> list of every id, best first."""
    # TODO: sort the ids by fused score, highest first, ties in order of first appearance
    raise NotImplementedError('TODO: sort the ids by fused score, highest first, ties in order of first appearance')


def mmr(query_vec, doc_vecs, lambda_, top_k):
    """Maximal marginal relevance with cosine similarity. -> list of min(top_k, n) int indices."""
    # TODO: cosine similarities (normalise q and the rows of D), then pick greedily:
    #       the most relevant first, then the best relevance-minus-redundancy trade-off
    raise NotImplementedError('TODO: cosine similarities (normalise q and the rows of D), then pick greedily:')
