# Your attempt at the `dense_retrieval` kata: fill in every TODO, then run
#     nox -s kata -- dense_retrieval
# Generated from solutions/dense_retrieval.py; `dojo reset dense_retrieval` archives this file and starts over.
"""Dense retrieval: exact cosine top-k search over an embedding matrix (numpy only).

Build two functions:

    normalize(E)                                        rows of E scaled to unit L2 norm
    cosine_top_k(queries, corpus, k, batch_size=1024)   (indices, scores) of the k nearest
                                                        corpus rows to each query, by cosine

Shapes and dtypes: E is (n, d); queries is (q, d) and corpus (n, d), any real dtype, read as
float64. normalize returns an (n, d) float64 array and leaves its input untouched.
cosine_top_k returns indices (q, k) int64 (row numbers into corpus) and scores (q, k) float64,
with scores[i, j] = cos(queries[i], corpus[indices[i, j]]).

Conventions
-----------
- cos(a, b) = a . b / (||a|| ||b||). A zero vector has no direction: normalize leaves an
  all-zero row at zero (no NaN, no warning), so its cosine with anything is 0.
- Each row of the result is sorted by score, best first; equal scores are ordered by the
  lower corpus index first. (When several documents tie for the k-th place, any of them may
  fill it: only the scores are then fixed.)
- 1 <= k <= n, else ValueError (k = n returns the whole corpus, ranked).
- Select with np.argpartition (O(n) per query) and sort only the k selected, never the n
  scores: a full argsort is the oracle, not the answer.
- Score the queries batch_size rows at a time: at most a (batch_size, n) block of scores
  exists at once, never the whole (q, n) matrix. q need not be a multiple of batch_size.

Pitfalls an interviewer looks for
---------------------------------
- Cosine is a dot product of *normalised* vectors: skip the corpus normalisation and long
  documents win; skip the query normalisation and the ranking survives but the scores do not.
- np.argpartition puts the k smallest first, in no particular order: partition the negated
  scores (or take the last k of the scores) and then sort those k, descending.
- A batch loop must not drop the last, partial batch.
"""

import numpy as np


def normalize(E):
    """Rows of E divided by their L2 norm; all-zero rows stay zero. (n, d) -> (n, d) float64."""
    # TODO: divide each row by its L2 norm without dividing by zero
    raise NotImplementedError('TODO: divide each row by its L2 norm without dividing by zero')


def cosine_top_k(queries, corpus, k, batch_size=1024):
    """The k corpus rows most cosine-similar to each query, best first.

    queries: (q, d), corpus: (n, d), 1 <= k <= n (else ValueError). Scores are computed
    batch_size queries at a time. Returns (indices (q, k) int64, scores (q, k) float64), each
    row sorted by score descending, equal scores by lower index.
    """
    # TODO: check k, normalise both sides; per batch of queries: score against the corpus,
    #       argpartition out the k best, then sort just those k (score desc, index asc)
    raise NotImplementedError('TODO: check k, normalise both sides; per batch of queries: score against the corpus,')
