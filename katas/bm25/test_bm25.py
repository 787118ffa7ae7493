"""Tests for the bm25 kata.

Oracles: scores worked out by hand on a three-document corpus (the arithmetic is written out
in the tests), and a brute-force reference below that loops over documents and query tokens
with `list.count`, independent of any matrix. When a score is wrong, the failure message names
the classic bug it matches (idf without the "1 +", tf as presence, dl / avgdl inverted, ...).
rank_bm25 is not a dependency: its BM25Okapi uses a different idf (see the last section).
"""

import math

import numpy as np
import pytest

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- references

#   d0: dl = 2,  d1: dl = 4,  d2: dl = 6,  so N = 3 and avgdl = 12 / 3 = 4.
TINY = [
    ["cat", "dog"],
    ["cat", "cat", "sat", "mat"],
    ["dog", "ran", "far", "away", "fast", "dog"],
]

BUGS = {
    "no_plus_one": "idf is missing the '1 +': use ln(1 + (N - n + 0.5) / (n + 0.5)), which is "
                   "never negative",
    "presence": "tf is counted as presence (0/1): use the number of times the term occurs",
    "unique_dl": "document lengths count unique tokens: dl counts every token, repeats included",
    "avgdl_unique": "avgdl averages unique-token counts: it is the mean of dl (all tokens)",
    "avgdl_over_vocab": "avgdl is averaged over the vocabulary (wrong axis): it is total tokens "
                        "/ N documents",
    "inverted": "dl / avgdl is inverted: long documents must get a larger denominator",
    "no_k1_plus_1": "the (k1 + 1) factor in the numerator is missing",
    "b_outside": "b is applied outside the k1 factor: the denominator is "
                 "tf + k1 * (1 - b + b * dl / avgdl)",
}


def _reference(corpus, query, k1=1.5, b=0.75, bug=None):
    """BM25 one document and one query token at a time (or with the classic `bug`)."""
    N = len(corpus)
    dls = [len(set(d)) if bug == "unique_dl" else len(d) for d in corpus]
    if bug == "avgdl_unique":
        avgdl = sum(len(set(d)) for d in corpus) / N
    elif bug == "avgdl_over_vocab":
        avgdl = sum(dls) / len({t for d in corpus for t in d})
    else:
        avgdl = sum(dls) / N
    out = np.zeros(N)
    for i, doc in enumerate(corpus):
        for term in query:  # a repeated query token counts each time
            tf = doc.count(term)
            if tf == 0:
                continue
            tf = 1 if bug == "presence" else tf
            n = sum(term in d for d in corpus)
            ratio = (N - n + 0.5) / (n + 0.5)
            idf = math.log(ratio) if bug == "no_plus_one" else math.log(1.0 + ratio)
            rel_len = avgdl / dls[i] if bug == "inverted" else dls[i] / avgdl
            if bug == "b_outside":
                denom = tf + k1 * (1.0 - b) + b * rel_len
            else:
                denom = tf + k1 * (1.0 - b + b * rel_len)
            numer = tf * (1.0 if bug == "no_k1_plus_1" else k1 + 1.0)
            out[i] += idf * numer / denom
    return out


def _scores(index, query):
    s = index.scores(query)
    assert s is not None, "scores returned None; return the (N,) array of scores"
    return s


def _check_scores(actual, expected, *, what, corpus, query, k1=1.5, b=0.75):
    """assert_close, naming the classic bug whose scores `actual` matches, if any."""
    actual = np.asarray(actual)
    if actual.shape == expected.shape and not np.allclose(actual, expected, rtol=1e-9,
                                                          atol=1e-12):
        for bug, message in BUGS.items():
            wrong = _reference(corpus, query, k1, b, bug=bug)
            if not np.allclose(wrong, expected, rtol=1e-9, atol=1e-12) and np.allclose(
                    actual, wrong, rtol=1e-9, atol=1e-12):
                raise AssertionError(f"{what}: {message}.")
    assert_close(actual, expected, what=what, rtol=1e-9, atol=1e-12)


def _corpus(seed, n_docs=12, vocab=10, max_len=14, empty=True):
    """Documents drawn from a Zipf-like vocabulary: some terms are in most documents."""
    rng = np.random.default_rng(seed)
    words = [f"w{j}" for j in range(vocab)]
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    docs = [[str(t) for t in rng.choice(words, size=rng.integers(1, max_len + 1), p=p)]
            for _ in range(n_docs)]
    if empty:
        docs[rng.integers(n_docs)] = []
    query = [str(t) for t in rng.choice(words + ["unseen"], size=5)]
    return docs, query


# ----------------------------------------------------------------------------- by hand


def test_scores_by_hand_with_default_k1_and_b(kata):
    # Defaults k1 = 1.5, b = 0.75; N = 3, avgdl = 4.
    #   idf(cat) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1 + 1.5 / 2.5) = ln(1.6)
    #   idf(sat) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(1 + 2.5 / 1.5) = ln(8 / 3)
    #   d0 (dl 2): K = 1.5 * (0.25 + 0.75 * 2 / 4) = 0.9375
    #       cat, tf 1: ln(1.6) * 1 * 2.5 / (1 + 0.9375) = ln(1.6) * 40 / 31
    #   d1 (dl 4): K = 1.5 * (0.25 + 0.75 * 4 / 4) = 1.5
    #       cat, tf 2: ln(1.6) * 2 * 2.5 / (2 + 1.5) = ln(1.6) * 10 / 7
    #       sat, tf 1: ln(8 / 3) * 1 * 2.5 / (1 + 1.5) = ln(8 / 3)
    #   d2: neither term, 0.
    query = ["cat", "sat"]
    expected = np.array([math.log(1.6) * 40 / 31,
                         math.log(1.6) * 10 / 7 + math.log(8 / 3),
                         0.0])
    s = _scores(kata.BM25(TINY), query)
    _check_scores(s, expected, what="BM25(TINY).scores(['cat', 'sat'])", corpus=TINY,
                  query=query)


def test_scores_by_hand_with_k1_one_and_b_one(kata):
    # k1 = 1, b = 1: K = dl / avgdl. idf(dog) = ln(1.6) (dog is in d0 and d2).
    #   d0 (dl 2): K = 2 / 4 = 0.5, tf 1: ln(1.6) * 1 * 2 / (1 + 0.5) = ln(1.6) * 4 / 3
    #   d2 (dl 6): K = 6 / 4 = 1.5, tf 2: ln(1.6) * 2 * 2 / (2 + 1.5) = ln(1.6) * 8 / 7
    query = ["dog"]
    expected = np.array([math.log(1.6) * 4 / 3, 0.0, math.log(1.6) * 8 / 7])
    s = _scores(kata.BM25(TINY, k1=1.0, b=1.0), query)
    _check_scores(s, expected, what="BM25(TINY, k1=1, b=1).scores(['dog'])", corpus=TINY,
                  query=query, k1=1.0, b=1.0)


def test_scores_are_float64_with_one_score_per_document(kata):
    s = _scores(kata.BM25(TINY), ["cat"])
    assert isinstance(s, np.ndarray) and s.shape == (3,), (
        f"scores must be an np.ndarray of shape (N,) = (3,), got {type(s).__name__} of shape "
        f"{np.shape(s)}; sum the term scores over the query tokens")
    assert s.dtype == np.float64, f"scores must be float64, got {s.dtype}"


# ----------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (1.2, 0.3), (2.0, 1.0), (0.7, 0.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_a_brute_force_loop_on_random_corpora(kata, seed, k1, b):
    docs, query = _corpus(seed)
    s = _scores(kata.BM25(docs, k1=k1, b=b), query)
    _check_scores(s, _reference(docs, query, k1, b),
                  what=f"scores on random corpus {seed} (k1={k1}, b={b}, query={query})",
                  corpus=docs, query=query, k1=k1, b=b)


def test_scores_of_several_queries_on_one_index(kata):
    docs, _ = _corpus(3, n_docs=20, vocab=15, empty=False)
    index = kata.BM25(docs, k1=1.3, b=0.6)
    for query in (["w0"], ["w14", "w3", "w0"], ["w2", "w2", "w7"]):
        _check_scores(_scores(index, query), _reference(docs, query, 1.3, 0.6),
                      what=f"scores({query}) on one index queried several times", corpus=docs,
                      query=query, k1=1.3, b=0.6)


# ----------------------------------------------------------------------------- conventions


def test_a_repeated_query_term_counts_each_time(kata):
    index = kata.BM25(TINY)
    once, twice = _scores(index, ["cat"]), _scores(index, ["cat", "cat"])
    assert_close(twice, 2 * once, what="scores(['cat', 'cat']) vs 2 * scores(['cat']) (a "
                                       "query term repeated in the query counts each time)")


def test_unknown_query_terms_contribute_nothing(kata):
    index = kata.BM25(TINY)
    assert_close(_scores(index, ["cat", "zebra", "sat"]), _scores(index, ["cat", "sat"]),
                 what="scores with an unknown term 'zebra' added (it must add 0)")
    assert_close(_scores(index, ["zebra", "unicorn"]), np.zeros(3),
                 what="scores of a query with only unknown terms")
    assert_close(_scores(index, []), np.zeros(3), what="scores of the empty query")


def test_tf_counts_occurrences_not_presence(kata):
    # Same length, same other terms: the document with "x" twice must score higher.
    docs = [["x", "y", "z", "w"], ["x", "x", "z", "w"], ["y", "z", "w", "v"]]
    s = _scores(kata.BM25(docs), ["x"])
    assert s[1] > s[0] > 0, (
        f"scores(['x']) = {s}: d1 has 'x' twice and d0 once, with equal lengths, so d1 must "
        "score higher. tf is the number of occurrences, not 0/1 presence")


def test_longer_documents_score_lower_for_the_same_tf(kata):
    docs = [["x", "a"], ["x", "b", "c", "d", "e", "f", "g", "h"], ["y", "z"]]
    s = _scores(kata.BM25(docs), ["x"])
    assert s[0] > s[1] > 0, (
        f"scores(['x']) = {s}: both documents contain 'x' once, d0 has 2 tokens and d1 has 8; "
        "the shorter one must score higher. Is dl / avgdl inverted?")


def test_b_zero_removes_length_normalisation(kata):
    docs = [["x", "a"], ["x", "b", "c", "d", "e", "f", "g", "h"], ["x", "x", "q"], ["y"]]
    s = _scores(kata.BM25(docs, k1=1.2, b=0.0), ["x"])
    assert_close(s[1], s[0], what="scores with b = 0 of two documents with tf 1 and lengths "
                                  "2 and 8 (b = 0 removes length normalisation)")
    # With b = 0, s = idf * tf * (k1 + 1) / (tf + k1); idf(x) = ln(1 + 1.5 / 3.5).
    idf = math.log(1 + 1.5 / 3.5)
    expected = np.array([idf * 2.2 / 2.2, idf * 2.2 / 2.2, idf * 2 * 2.2 / 3.2, 0.0])
    _check_scores(s, expected, what="scores with b = 0", corpus=docs, query=["x"], k1=1.2,
                  b=0.0)


def test_k1_zero_makes_tf_irrelevant_and_gives_no_nan(kata):
    # k1 = 0: s = idf * tf / tf = idf whenever tf > 0; a missing term (tf = 0) adds 0, not
    # 0 / 0. Document 3 is empty.
    docs = [["x"], ["x", "x", "x", "y"], ["y", "z", "z"], []]
    with np.errstate(all="ignore"):
        s = _scores(kata.BM25(docs, k1=0.0, b=0.75), ["x", "z"])
    assert np.all(np.isfinite(s)), (
        f"scores with k1 = 0 = {s}: a document without the term has tf = 0 and "
        "tf * (k1 + 1) / (tf + 0) is 0 / 0; such terms contribute 0")
    idf_x, idf_z = math.log(1 + 2.5 / 2.5), math.log(1 + 3.5 / 1.5)
    assert_close(s, np.array([idf_x, idf_x, idf_z, 0.0]),
                 what="scores with k1 = 0 (tf stops mattering: each matched term adds its idf)")


def test_empty_documents_score_zero_without_nan(kata):
    # b = 1 and an empty document: its K = k1 * 0 / avgdl = 0, and tf = 0, so 0 / 0 again.
    docs = [[], ["a", "b"], ["b", "c", "c"], []]
    with np.errstate(all="ignore"):
        s = _scores(kata.BM25(docs, k1=1.2, b=1.0), ["b", "c"])
    assert np.all(np.isfinite(s)), (
        f"scores = {s} with empty documents and b = 1: a term with tf = 0 contributes 0, "
        "never 0 / 0")
    _check_scores(s, _reference(docs, ["b", "c"], 1.2, 1.0), what="scores with empty documents",
                  corpus=docs, query=["b", "c"], k1=1.2, b=1.0)


def test_average_length_counts_empty_documents(kata):
    # avgdl = (0 + 4 + 2) / 3 = 2, not (4 + 2) / 2 = 3.
    docs = [[], ["a", "b", "b", "c"], ["a", "d"]]
    s = _scores(kata.BM25(docs, k1=1.0, b=1.0), ["a"])
    idf = math.log(1 + 1.5 / 2.5)
    # d1: K = 4 / 2 = 2, s = idf * 2 / 3;  d2: K = 2 / 2 = 1, s = idf * 2 / 2.
    assert_close(s, np.array([0.0, idf * 2 / 3, idf]),
                 what="scores with an empty document in the corpus (avgdl is the mean of dl "
                      "over all N documents, the empty ones included)")


# ----------------------------------------------------------------------------- idf


def test_a_term_in_every_document_has_positive_idf(kata):
    # "the" is in all N = 4 documents: idf = ln(1 + 0.5 / 4.5) = ln(10 / 9) > 0.
    docs = [["the", "cat"], ["the", "dog"], ["the", "the", "end"], ["the", "sat", "on"]]
    index = kata.BM25(docs, k1=1.5, b=0.0)
    s = _scores(index, ["the"])
    assert np.all(s > 0), (
        f"scores(['the']) = {s} for a term in every document: idf = ln(1 + (N - n + 0.5) / "
        "(n + 0.5)) is positive even when n = N; without the '1 +' it is negative")
    idf = math.log(10 / 9)
    assert_close(s, idf * np.array([1, 1, 2 * 2.5 / 3.5, 1]),
                 what="scores of a term in every document (b = 0: idf * tf * 2.5 / (tf + 1.5))")


def test_common_terms_raise_scores_unlike_rank_bm25_okapi(kata):
    # rank_bm25's BM25Okapi uses idf = ln((N - n + 0.5) / (n + 0.5)): for "a", in 3 of 4
    # documents, that is ln(1.5 / 3.5) < 0, so a match would LOWER the score, and BM25Okapi
    # floors it at epsilon * mean idf instead. The Lucene idf ln(1 + 1.5 / 3.5) stays positive,
    # so a document matching "a" must beat the one that does not.
    docs = [["a", "b"], ["a", "c"], ["a", "d"], ["e", "f"]]
    okapi_idf = math.log(1.5 / 3.5)
    assert okapi_idf < 0  # the premise
    s = _scores(kata.BM25(docs), ["a"])
    assert s[0] > s[3] == 0.0, (
        f"scores(['a']) = {s}: 'a' is in 3 of 4 documents; its idf must be positive "
        "(ln(1 + (N - n + 0.5) / (n + 0.5))), not rank_bm25's ln((N - n + 0.5) / (n + 0.5)) "
        f"= {okapi_idf:.3f}")
    assert_close(s[0], math.log(1 + 1.5 / 3.5) * 2.5 / (1 + 1.5),
                 what="score of d0 for the common term 'a' (every document has dl = avgdl)")


# ----------------------------------------------------------------------------- top_k


def _top_k(index, query, k):
    idx = index.top_k(query, k)
    assert idx is not None, "top_k returned None; return the indices of the best documents"
    idx = np.asarray(idx)
    assert idx.dtype.kind in "iu", f"top_k must return integer indices, got {idx.dtype}"
    return [int(i) for i in idx]


@pytest.mark.parametrize("seed", [4, 5])
def test_top_k_returns_the_best_documents_best_first(kata, seed):
    docs, query = _corpus(seed, n_docs=25, vocab=12, empty=False)
    index = kata.BM25(docs)
    expected = sorted(range(25), key=lambda i: (-_reference(docs, query)[i], i))[:5]
    got = _top_k(index, query, 5)
    assert got == expected, (
        f"top_k({query}, 5) = {got}, expected {expected} (documents sorted by score, "
        "highest first)")


def test_top_k_breaks_ties_by_the_lower_index(kata):
    # 40 documents, most of them without the query term (score 0): every tie must keep the
    # index order. np.argsort's default quicksort does not promise that; kind="stable" does.
    rng = np.random.default_rng(6)
    docs = [["x"] if i % 7 == 3 else [f"n{int(rng.integers(5))}", "pad"] for i in range(40)]
    got = _top_k(kata.BM25(docs), ["x"], 40)
    expected = [i for i in range(40) if i % 7 == 3] + [i for i in range(40) if i % 7 != 3]
    assert got == expected, (
        f"top_k(['x'], 40) = {got}, expected {expected}: equal scores go to the lower "
        "index first (a stable sort of -score)")


def test_top_k_with_k_above_n_returns_every_document(kata):
    got = _top_k(kata.BM25(TINY), ["dog"], 10)
    assert got == [0, 2, 1], (
        f"top_k(['dog'], 10) on 3 documents = {got}, expected [0, 2, 1] (all N "
        "documents, best first, when k > N)")
    assert (_top_k(kata.BM25(TINY), ["dog"], 1)) == [0], "top_k(['dog'], 1) should be [0]"
