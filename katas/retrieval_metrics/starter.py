# Your attempt at the `retrieval_metrics` kata: fill in every TODO, then run
#     nox -s kata -- retrieval_metrics
# Generated from solutions/retrieval_metrics.py; `dojo reset retrieval_metrics` archives this file and starts over.
"""Ranking metrics for retrieval: recall@k, precision@k, MRR, nDCG@k and average precision.

Build, for one query (ranked is that query's result list, best first):

    recall_at_k(relevant, ranked, k)         relevant hits in the top k / number of relevant
    precision_at_k(relevant, ranked, k)      relevant hits in the top k / k
    reciprocal_rank(relevant, ranked)        1 / rank of the first relevant hit, 0 if none
    mrr(relevant_lists, ranked_lists)        mean of reciprocal_rank over the queries
    ndcg_at_k(relevances, ranked, k)         DCG@k / IDCG@k with graded relevance
    average_precision(relevant, ranked)      mean of precision@i over the ranks i of the hits,
                                             counting every relevant document

Inputs: document ids are any hashable values (ints, strings). `relevant` is an iterable of
the relevant ids (duplicates count once); `ranked` is a sequence of distinct ids, best first,
and may be shorter than k. `relevances` is a dict {doc id: gain}, gains >= 0 (0, 1, 2, 3...);
a document missing from it has gain 0. Every metric returns a Python float.

Conventions
-----------
- Ranks are 1-based: the first document has rank 1.
- k >= 1, else ValueError. When ranked has fewer than k documents, precision@k still divides
  by k (the missing slots are misses) and nDCG@k uses the documents there are.
- recall@k = |relevant in ranked[:k]| / |relevant|; 0.0 when nothing is relevant.
- MRR: a query whose ranking holds no relevant document contributes 0. relevant_lists and
  ranked_lists pair up query by query; different lengths, or no query at all: ValueError.
- nDCG@k uses the linear gain (the gain itself, as sklearn.metrics.ndcg_score does, not
  2^rel - 1):  DCG@k = sum_{i=1..k} gain(ranked[i]) / log2(i + 1).  IDCG@k is the DCG@k of
  the ideal ordering of ALL the gains in `relevances`, retrieved or not. nDCG = 0.0 when
  IDCG = 0 (no document has a positive gain).
- AP = (1 / |relevant|) * sum over the ranks i where ranked[i] is relevant of precision@i.
  A relevant document that is never retrieved adds 0 but still counts in |relevant|, so AP
  equals sklearn.metrics.average_precision_score on a full ranking. 0.0 when nothing is
  relevant.

Pitfalls an interviewer looks for
---------------------------------
- Denominators: recall divides by the number of relevant documents (not k), precision by k
  (not by the number retrieved), AP by the number of relevant documents (not by the number
  of hits retrieved).
- Off-by-one ranks: the discount of rank i is log2(i + 1) (log2(1) = 0 at rank 1 with
  log2(i)); the reciprocal rank of the first position is 1, not 1 / 0.
- IDCG sorts every known gain, not just those of the retrieved documents: a relevant
  document the system missed must lower the nDCG.
"""

import numpy as np


def _check_k(k):
    """Raise ValueError unless k is a positive rank cut-off."""
    # TODO: reject a cut-off k below 1
    raise NotImplementedError('TODO: reject a cut-off k below 1')


def recall_at_k(relevant, ranked, k):
    """Fraction of the relevant documents found in ranked[:k]. 0.0 if nothing is relevant."""
    # TODO: count the relevant documents in the top k, divide by the number of relevant
    raise NotImplementedError('TODO: count the relevant documents in the top k, divide by the number of relevant')


def precision_at_k(relevant, ranked, k):
    """Fraction of the k slots of ranked[:k] holding a relevant document (divides by k)."""
    # TODO: count the relevant documents in the top k, divide by k
    raise NotImplementedError('TODO: count the relevant documents in the top k, divide by k')


def reciprocal_rank(relevant, ranked):
    """1 / (1-based rank of the first relevant document in ranked), 0.0 if there is none."""
    # TODO: find the first relevant position (ranks start at 1)
    raise NotImplementedError('TODO: find the first relevant position (ranks start at 1)')


def mrr(relevant_lists, ranked_lists):
    """Mean reciprocal rank over queries: relevant_lists[j] goes with ranked_lists[j]."""
    # TODO: check the lists pair up, then average the reciprocal ranks
    raise NotImplementedError('TODO: check the lists pair up, then average the reciprocal ranks')


def dcg(gains):
    """DCG of gains listed in rank order: sum_i gains[i - 1] / log2(i + 1), i = 1..len."""
    # TODO: discount the gain at rank i (1-based) by log2(i + 1) and sum
    raise NotImplementedError('TODO: discount the gain at rank i (1-based) by log2(i + 1) and sum')


def ndcg_at_k(relevances, ranked, k):
    """nDCG@k with linear gains: relevances is {doc id: gain >= 0}, unknown ids have gain 0.
    IDCG@k comes from all the gains in relevances, sorted; 0.0 when IDCG@k is 0."""
    # TODO: DCG of the top-k gains over the DCG of the best possible top k
    raise NotImplementedError('TODO: DCG of the top-k gains over the DCG of the best possible top k')


def average_precision(relevant, ranked):
    """Mean of precision@i over the ranks i of the relevant hits, divided by |relevant| (so
    missed relevant documents count as 0). 0.0 if nothing is relevant."""
    # TODO: precision at every rank, kept at the hits, summed, over the number relevant
    raise NotImplementedError('TODO: precision at every rank, kept at the hits, summed, over the number relevant')
