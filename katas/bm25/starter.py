# Your attempt at the `bm25` kata: fill in every TODO, then run
#     nox -s kata -- bm25
# Generated from solutions/bm25.py; `dojo reset bm25` archives this file and starts over.
"""BM25 ranking from scratch (numpy only).

Build a BM25 index over a tokenised corpus and score queries against it:

    BM25(corpus_tokens, k1=1.5, b=0.75)   index N documents, each a list of string tokens
    .scores(query_tokens)                 (N,) float64: the BM25 score of every document
    .top_k(query_tokens, k)               (min(k, N),) int indices of the best documents

Definitions (N documents; dl = a document's length in tokens, repeats included; avgdl = the
mean of dl over all N documents, empty ones included; n(t) = how many documents contain t):

    idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))                  (Lucene's form)
    s(t, d)     = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    score(q, d) = sum of s(t, d) over the tokens t of the query

where tf is the number of times t occurs in d. Conventions:
- A term repeated in the query counts each time: scores(["cat", "cat"]) is twice
  scores(["cat"]). A query term absent from the corpus, or a document without the term,
  contributes exactly 0; an empty query scores every document 0.
- k1 = 0 is allowed (tf then stops mattering: s = idf as soon as tf > 0) and so are empty
  documents: a term with tf = 0 contributes 0, never 0 / 0 = NaN.
- top_k sorts by score, best first; equal scores go to the lower document index. k larger
  than N returns all N indices.
- The corpus holds at least one token (avgdl > 0).

Why not rank_bm25's BM25Okapi? It uses the Robertson-Sparck Jones idf ln((N - n + 0.5) /
(n + 0.5)), which is negative for a term in more than half of the documents (a match would
lower the score), and patches that with a floor of epsilon * (mean idf). The "1 +" inside
the log keeps every idf positive, including that of a term in every document, so the two
libraries' scores differ for common terms.

Pitfalls an interviewer looks for
---------------------------------
- idf without the "1 +": negative idf for common terms.
- tf as presence (0/1), dl counted over unique tokens, or avgdl over the wrong axis.
- dl / avgdl inverted (long documents must be penalised), b applied outside the
  (1 - b + b * dl / avgdl) factor, or the (k1 + 1) in the numerator dropped.
"""

import numpy as np


class BM25:
    """A BM25 index: vocabulary, term frequencies, document lengths and idf, built once."""

    def __init__(self, corpus_tokens, k1=1.5, b=0.75):
        """corpus_tokens: a list of N documents, each a list of string tokens."""
        self.k1, self.b = k1, b
        # TODO: index the corpus: a vocabulary (term -> column), the (N, V) term counts,
        #       each document's length and their mean, and the idf of every term
        raise NotImplementedError('TODO: index the corpus: a vocabulary (term -> column), the (N, V) term counts,')

    def scores(self, query_tokens):
        """(N,) float64: the BM25 score of every document for the query (a list of tokens)."""
        # TODO: the BM25 score of every document at once: one column per known query
        #       token (repeats kept), then sum the term scores
        raise NotImplementedError('TODO: the BM25 score of every document at once: one column per known query')

    def top_k(self, query_tokens, k):
        """Indices of the k best documents for the query, best first; ties to the lower index."""
        # TODO: rank the documents by score, best first, ties to the lower index
        raise NotImplementedError('TODO: rank the documents by score, best first, ties to the lower index')
