"""Tests for the bpe_tokenizer kata.

Oracles: a brute-force recount of every pair's frequency (position by position, pair by
pair) replayed after each learned merge; a worked example merged by hand ("aaabdaaabac");
an encoder that applies the merges one after another in learning order (equivalent to
lowest-rank-first); and the round trip decode(encode(s)) == s on Unicode text (emoji, CJK,
combining marks, ZWJ sequences, the empty string). Failure messages name the classic bug a
wrong answer matches (overlapping merges, non-overlapping counts, ties, merge order, per-token
decoding).
"""

import numpy as np
import pytest

A, B, C, D = 97, 98, 99, 100  # the bytes of "a", "b", "c", "d"

ALPHABET = ["a", "b", "c", " ", "é", "中", "🙂", "e\u0301", "ß"]

ROUND_TRIP = [
    "",
    "a",
    "hello world",
    "naïve café, déjà vu",
    "e\u0301\u0301 n\u0303 combining marks",
    "中文字符和日本語のテキスト",
    "🙂🙃👍🏽 emoji and 👨‍👩‍👧‍👦 a ZWJ family",
    "mixed: aé中🙂\u0301\n\ttabs and newlines \x00 nul",
    "🙂" * 7 + "中" * 5 + "aaaa",
]


def random_text(seed, n):
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(ALPHABET, size=n))


# ---------------------------------------------------------------------------- test oracles


def brute_counts(ids):
    """Pair frequencies the slow way: for each distinct pair, scan every position."""
    pairs = {(ids[i], ids[i + 1]) for i in range(len(ids) - 1)}
    return {p: sum(1 for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == p) for p in pairs}


def nonoverlapping_counts(ids):
    """The (wrong) count of how many times a pair could be merged at once."""
    pairs = {(ids[i], ids[i + 1]) for i in range(len(ids) - 1)}
    return {p: naive_merge(ids, p, -1).count(-1) for p in pairs}


def naive_merge(ids, pair, new_id):
    out, skip = [], False
    for i, tok in enumerate(ids):
        if skip:
            skip = False
        elif i + 1 < len(ids) and (tok, ids[i + 1]) == tuple(pair):
            out.append(new_id)
            skip = True
        else:
            out.append(tok)
    return out


def sequential_encode(text, merges):
    """Apply each merge to the whole sequence, in learning order."""
    ids = list(text.encode("utf-8"))
    for pair, new_id in merges:
        ids = naive_merge(ids, pair, new_id)
    return ids


def as_list(merges):
    assert merges is not None, "train_bpe returned None; return the list of merges"
    out = []
    for item in merges:
        (a, b), new_id = item
        out.append(((int(a), int(b)), int(new_id)))
    return out


def replay(text, merges):
    """Check every merge against a brute-force recount of the sequence at that step; return
    the final sequence."""
    ids = list(text.encode("utf-8"))
    for step, ((a, b), new_id) in enumerate(merges):
        assert new_id == 256 + step, (
            f"merge {step} creates id {new_id}; ids must be 256, 257, ... in learning order")
        counts = brute_counts(ids)
        assert counts, f"merge {step} was learned although fewer than two tokens were left"
        best = max(counts.values())
        expected = min(p for p, c in counts.items() if c == best)
        got = (a, b)
        if got != expected:
            msg = (f"merge {step}: learned {got} (count {counts.get(got, 0)}), expected "
                   f"{expected} (count {best})")
            wrong = nonoverlapping_counts(ids)
            wrong_best = max(wrong.values())
            if counts.get(got, 0) == best:
                msg += ("; the counts tie: break ties by the smallest pair (a, b) in tuple "
                        "order")
            elif wrong.get(got) == wrong_best:
                msg += ("; that is the winner under non-overlapping counts: count every "
                        "adjacent position, overlaps included ([a, a, a] has (a, a) twice)")
            elif counts.get(got, 0) == min(counts.values()):
                msg += "; that is the least frequent pair: pick the most frequent"
            raise AssertionError(msg)
        ids = naive_merge(ids, got, new_id)
    return ids


# ---------------------------------------------------------------------------- pair_counts


def test_pair_counts_counts_overlapping_occurrences(kata):
    got = kata.pair_counts([A, A, A])
    assert got == {(A, A): 2}, (
        f"pair_counts([a, a, a]) = {got}; (a, a) occurs at positions 0 and 1: count every "
        "adjacent position, overlaps included")
    assert kata.pair_counts([A, A, A, A, B]) == {(A, A): 3, (A, B): 1}


def test_pair_counts_of_short_lists_is_empty(kata):
    assert kata.pair_counts([]) == {}, "pair_counts([]) must be {}"
    assert kata.pair_counts([A]) == {}, "pair_counts of a single token must be {}"


@pytest.mark.parametrize("seed", range(3))
def test_pair_counts_match_brute_force(kata, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 5, size=40).tolist()
    got = kata.pair_counts(ids)
    expected = brute_counts(ids)
    assert dict(got) == expected, f"pair_counts({ids}) = {dict(got)}, expected {expected}"


# ---------------------------------------------------------------------------- merge


def test_merge_does_not_overlap(kata):
    got = kata.merge([A, A, A], (A, A), 256)
    assert got == [256, A], (
        f"merge([a, a, a], (a, a)) = {got}, expected [X, a]: after a match, skip both tokens "
        "(the second a is already used)")
    assert kata.merge([A, A, A, A], (A, A), 256) == [256, 256]
    assert kata.merge([B, A, A, A, B], (A, A), 300) == [B, 300, A, B]


def test_merge_handles_ends_and_absent_pairs(kata):
    assert kata.merge([C, A, B], (A, B), 256) == [C, 256], "a pair at the end must be merged"
    assert kata.merge([A, B], (A, B), 256) == [256], "a two-token list that is the pair"
    assert kata.merge([A, B, A], (B, C), 256) == [A, B, A], "no occurrence: ids unchanged"
    assert kata.merge([B, A], (A, B), 256) == [B, A], "(b, a) is not the pair (a, b)"
    assert kata.merge([A], (A, B), 256) == [A]
    assert kata.merge([], (A, B), 256) == []


@pytest.mark.parametrize("seed", range(3))
def test_merge_matches_naive_scan(kata, seed):
    rng = np.random.default_rng(10 + seed)
    ids = rng.integers(0, 3, size=50).tolist()
    original = list(ids)
    for pair in [(0, 1), (1, 1), (2, 0)]:
        got = kata.merge(ids, pair, 300)
        assert got == naive_merge(ids, pair, 300), f"merge(ids, {pair}) is wrong for ids={ids}"
    assert ids == original, "merge must return a new list and leave its input unchanged"


# ---------------------------------------------------------------------------- train_bpe

WIKI = "aaabdaaabac"
# By hand (counts overlap, ties go to the smallest pair):
#   a a a b d a a a b a c   (a,a)=4 (a,b)=2, others 1             -> (a,a) = 256
#   256 a b d 256 a b a c   (256,a)=2 (a,b)=2: tie, (97,98) < (256,97) -> (a,b) = 257
#   256 257 d 256 257 a c   (256,257)=2                           -> (256,257) = 258
#   258 d 258 a c           all 1: smallest is (a,c)=(97,99)      -> 259
#   258 d 258 259           smallest of (258,d) (d,258) (258,259) -> (d,258) = 260
#   258 260 259             -> (258,260) = 261;  261 259 -> (261,259) = 262;  [262]: stop
WIKI_MERGES = [((A, A), 256), ((A, B), 257), ((256, 257), 258), ((A, C), 259),
               ((D, 258), 260), ((258, 260), 261), ((261, 259), 262)]


def test_train_matches_worked_example(kata):
    got = as_list(kata.train_bpe(WIKI, 259))
    assert len(got) == 3, f"train_bpe(..., vocab_size=259) learned {len(got)} merges, not 3"
    if got[:1] != WIKI_MERGES[:1]:
        raise AssertionError(f"first merge {got[0]}, expected ((97, 97), 256): (a, a) occurs 4 "
                             "times (overlaps included)")
    if got[1] == ((256, A), 257):
        raise AssertionError(
            "second merge is (256, 97); it ties with (97, 98) at count 2 and ties go to the "
            "smallest pair in tuple order, (97, 98) (not the pair seen first)")
    assert got == WIKI_MERGES[:3], f"train_bpe('aaabdaaabac', 259) = {got}, by hand "\
        f"{WIKI_MERGES[:3]}"


def test_train_stops_when_one_token_is_left(kata):
    got = as_list(kata.train_bpe(WIKI, 300))
    assert got == WIKI_MERGES, (
        f"train_bpe('aaabdaaabac', 300) = {got}; by hand {WIKI_MERGES} (7 merges, after which "
        "the whole text is one token and training stops early)")


def test_train_counts_overlapping_pairs(kata):
    # (a,a): 4 overlapping positions but only 2 non-overlapping; (x,y): 3 either way.
    got = as_list(kata.train_bpe("aaaaaxyxyxy", 257))
    assert got == [((A, A), 256)], (
        f"train_bpe('aaaaaxyxyxy', 257) = {got}; (a, a) has 4 adjacent positions and wins "
        "over (x, y) with 3: count overlapping pairs as positions" + (
            " (you counted non-overlapping occurrences)" if got and got[0][0] == (120, 121)
            else ""))


@pytest.mark.parametrize("seed,n,vocab_size", [(0, 60, 280), (1, 120, 300), (2, 30, 400)])
def test_train_matches_brute_force_recount(kata, seed, n, vocab_size):
    text = random_text(seed, n)
    merges = as_list(kata.train_bpe(text, vocab_size))
    final = replay(text, merges)
    if len(merges) < vocab_size - 256:
        assert len(final) < 2, (
            f"train_bpe stopped after {len(merges)} merges with {len(final)} tokens left; it "
            f"must learn vocab_size - 256 = {vocab_size - 256} unless no pair is left")


def test_train_edge_cases(kata):
    assert as_list(kata.train_bpe("hello", 256)) == [], "vocab_size=256 means no merges"
    assert as_list(kata.train_bpe("", 300)) == [], "empty text has no pairs: no merges"
    assert as_list(kata.train_bpe("z", 300)) == [], "a single byte has no pairs: no merges"
    assert as_list(kata.train_bpe("é", 300)) == [((195, 169), 256)], (
        "'é' is the two bytes c3 a9: train on text.encode('utf-8'), not on characters")
    with pytest.raises(ValueError):
        kata.train_bpe("hello", 255)


# ---------------------------------------------------------------------------- build_vocab


def test_build_vocab_concatenates_pairs(kata):
    vocab = kata.build_vocab(WIKI_MERGES)
    assert len(vocab) == 256 + len(WIKI_MERGES), f"vocab has {len(vocab)} entries"
    assert all(vocab[i] == bytes([i]) for i in range(256)), "ids 0..255 are the single bytes"
    expected = {256: b"aa", 257: b"ab", 258: b"aaab", 259: b"ac", 260: b"daaab",
                261: b"aaabdaaab", 262: b"aaabdaaabac"}
    got = {i: vocab[i] for i in expected}
    assert got == expected, f"merged tokens {got}, expected {expected}"
    assert kata.build_vocab([]) == {i: bytes([i]) for i in range(256)}


# ---------------------------------------------------------------------------- encode


def test_encode_applies_merges_by_rank(kata):
    merges = [((B, C), 256), ((A, B), 257)]  # (b, c) was learned first
    got = kata.encode("abc", merges)
    assert got == [A, 256], (
        f"encode('abc') with merges [(b,c), (a,b)] = {got}, expected [97, 256]: apply the "
        "lowest-rank (earliest learned) merge first, not the leftmost pair"
        + (" (you merged left to right by position)" if got == [257, C] else ""))
    merges = [((A, B), 256), ((256, C), 257), ((B, C), 258)]
    assert kata.encode("abc", merges) == [257], "'ab' then 'abc': chained merges"
    assert kata.encode("bcab", merges) == [258, 256]


def test_encode_merges_a_two_byte_text(kata):
    assert kata.encode("ab", [((A, B), 256)]) == [256], "encode('ab') with merge (a, b)"
    assert kata.encode("aaa", [((A, A), 256)]) == [256, A], "encode('aaa') must not overlap"


def test_encode_without_merges_gives_utf8_bytes(kata):
    for text in ROUND_TRIP:
        got = kata.encode(text, [])
        assert got == list(text.encode("utf-8")), (
            f"encode({text!r}, []) = {got}; without merges the ids are the UTF-8 bytes")


def test_encode_training_text_reproduces_training(kata):
    assert kata.encode(WIKI, WIKI_MERGES) == [262]
    assert kata.encode("aaabdaaabac" + "aaab", WIKI_MERGES) == [262, 258]


@pytest.mark.parametrize("seed", range(3))
def test_encode_matches_sequential_application(kata, seed):
    merges = as_list(kata.train_bpe(random_text(100 + seed, 150), 300))
    for text in [random_text(200 + seed, 80), *ROUND_TRIP]:
        got = kata.encode(text, merges)
        expected = sequential_encode(text, merges)
        assert got == expected, (
            f"encode({text!r}) = {got}, expected {expected} (each merge applied to the whole "
            "sequence in learning order)")


# ---------------------------------------------------------------------------- decode


def test_decode_joins_bytes_before_decoding(kata):
    vocab = kata.build_vocab([])
    got = kata.decode([195, 169], vocab)  # the two bytes of "é"
    assert got == "é", (
        f"decode([0xc3, 0xa9]) = {got!r}, expected 'é'" + (
            ": you decoded each token on its own; join all the bytes, then decode once"
            if got in ("\ufffd\ufffd", "Ã©") else ""))
    merges = [((240, 159), 256)]  # half of a 4-byte emoji in one token
    ids = kata.encode("🙂", merges)
    assert ids == [256, 153, 130]
    assert kata.decode(ids, kata.build_vocab(merges)) == "🙂"


def test_decode_replaces_invalid_bytes(kata):
    vocab = kata.build_vocab([])
    got = kata.decode([104, 255, 105], vocab)
    assert got == "h\ufffdi", f"decode([104, 255, 105]) = {got!r}; use errors='replace'"
    assert kata.decode([240, 159], vocab) == "\ufffd", "a truncated 4-byte char -> one U+FFFD"
    assert kata.decode([], vocab) == "", "decode([]) must be ''"


@pytest.mark.parametrize("text", ROUND_TRIP, ids=range(len(ROUND_TRIP)))
def test_round_trip_on_unicode(kata, text):
    corpus = " ".join(ROUND_TRIP) + random_text(7, 100)
    merges = as_list(kata.train_bpe(corpus, 330))
    vocab = kata.build_vocab(merges)
    ids = kata.encode(text, merges)
    assert all(isinstance(i, int) for i in ids), "encode must return a list of Python ints"
    assert kata.decode(ids, vocab) == text, f"decode(encode({text!r})) does not round-trip"
    if text:
        assert len(ids) <= len(text.encode("utf-8"))
