"""Tests for the chunking kata: overlapping token windows and sentence-packed text chunks.

Oracles: brute force and properties. chunk_tokens is compared with an independent reference
(every stride-multiple window, minus those lying inside their predecessor) over every small
(n, size, overlap), and checked for coverage (windows minus their overlaps give the tokens
back), exact overlaps and full-size windows. chunk_sentences is compared with an independent
reference (regex sentence split, index-based greedy packing) on random texts, and checked for
the limit, no empty chunks, every word in order, and maximal greedy packing. Hand-written
examples pin the boundaries: a chunk of exactly max_chars, the joining space, the tail window.
"""

import re

import numpy as np
import pytest

# ---------------------------------------------------------------------------------------------
# chunk_tokens

def _ref_windows(n, size, overlap):
    """Every window at a multiple of the stride, dropping any that lies inside the previous."""
    stride = size - overlap
    kept = []
    for start in range(0, n, stride):
        stop = min(start + size, n)
        if kept and stop <= kept[-1][1]:
            continue
        kept.append((start, stop))
    return [list(range(a, b)) for a, b in kept]


def _windows(kata, tokens, size, overlap):
    out = kata.chunk_tokens(tokens, size, overlap)
    assert out is not None, "chunk_tokens returned None; return the list of windows"
    assert isinstance(out, list) and all(isinstance(w, list) for w in out), (
        f"chunk_tokens must return a list of lists, got {out!r}")
    return out


def _explain_windows(got, tokens, size, overlap):
    """The first broken rule of chunk_tokens, in words, or None."""
    n, stride = len(tokens), size - overlap
    if n and not got:
        return "no windows for non-empty tokens"
    if not n:
        return None if not got else f"empty tokens must give [], got {got!r}"
    if any(not w for w in got):
        return "an empty window was emitted"
    starts = [tokens.index(w[0]) for w in got]  # tokens are distinct in these tests
    if starts[0] != 0:
        return "the first window must start at token 0"
    for a, b in zip(starts, starts[1:], strict=False):
        if b - a == size:
            return "consecutive windows do not overlap: the stride is size, not size - overlap"
        if b - a == size + overlap:
            return "the stride is size + overlap; it must be size - overlap"
        if b - a != stride:
            return (f"consecutive windows start {b - a} apart; the stride is "
                    f"size - overlap = {stride}")
    if got[-1][-1] != tokens[-1]:
        return "the tail is missing: the last window must reach the last token"
    if len(got) > 1 and set(got[-1]) <= set(got[-2]):
        return ("a duplicated tail window lying entirely inside the previous one was emitted: "
                "stop right after the first window that reaches the end")
    return None


@pytest.mark.parametrize("n, size, overlap, expected", [
    (10, 4, 2, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]),
    (11, 4, 1, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 10]]),
    (10, 4, 1, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]),
    (7, 3, 2, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]]),
    (7, 3, 0, [[0, 1, 2], [3, 4, 5], [6]]),
    (5, 5, 0, [[0, 1, 2, 3, 4]]),
    (5, 5, 4, [[0, 1, 2, 3, 4]]),
    (3, 5, 2, [[0, 1, 2]]),
    (6, 5, 3, [[0, 1, 2, 3, 4], [2, 3, 4, 5]]),
    (1, 1, 0, [[0]]),
])
def test_chunk_tokens_examples(kata, n, size, overlap, expected):
    tokens = list(range(n))
    got = _windows(kata, tokens, size, overlap)
    if got != expected:
        why = _explain_windows(got, tokens, size, overlap)
        raise AssertionError(
            f"chunk_tokens(range({n}), size={size}, overlap={overlap}) = {got}, expected "
            f"{expected}" + (f" [likely bug: {why}]" if why else ""))


def test_chunk_tokens_matches_brute_force_on_every_small_case(kata):
    for n in range(0, 23):
        for size in range(1, 8):
            for overlap in range(size):
                tokens = list(range(100, 100 + n))
                got = _windows(kata, tokens, size, overlap)
                expected = [[100 + t for t in w] for w in _ref_windows(n, size, overlap)]
                if got != expected:
                    why = _explain_windows(got, tokens, size, overlap)
                    raise AssertionError(
                        f"chunk_tokens(range(100, {100 + n}), size={size}, overlap={overlap}) = "
                        f"{got}, expected {expected}" + (f" [likely bug: {why}]" if why else ""))


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_chunk_tokens_windows_overlap_exactly_and_cover_the_tokens(kata, seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        size = int(rng.integers(1, 12))
        overlap = int(rng.integers(0, size))
        tokens = [f"t{i}" for i in range(int(rng.integers(1, 60)))]
        got = _windows(kata, tokens, size, overlap)
        case = f"chunk_tokens({len(tokens)} tokens, size={size}, overlap={overlap})"
        assert got, f"{case} returned no windows"
        for i, (a, b) in enumerate(zip(got, got[1:], strict=False)):
            assert a[len(a) - overlap:] == b[:overlap] and len(a) == size, (
                f"{case}: windows {i} and {i + 1} must share exactly {overlap} tokens, and every "
                f"window but the last must have {size} tokens; got {a} then {b}")
        rebuilt = got[0] + [t for w in got[1:] for t in w[overlap:]]
        assert rebuilt == tokens, (
            f"{case}: the first window plus every later window without its first {overlap} "
            f"tokens must give the tokens back; got {len(rebuilt)} tokens instead of "
            f"{len(tokens)}" + (f" [likely bug: {_explain_windows(got, tokens, size, overlap)}]"
                                if _explain_windows(got, tokens, size, overlap) else ""))
        assert len(got[-1]) > overlap or len(got) == 1, (
            f"{case}: the last window {got[-1]} lies inside the previous one; do not emit it")


def test_chunk_tokens_of_no_tokens_is_an_empty_list(kata):
    assert _windows(kata, [], 4, 1) == [], "chunk_tokens([]) must be [] (no empty window)"
    assert _windows(kata, [], 1, 0) == [], "chunk_tokens([], 1, 0) must be []"


def test_chunk_tokens_accepts_any_sequence_and_returns_lists(kata):
    got = _windows(kata, ("the", "cat", "sat", "on", "the", "mat"), 4, 2)
    assert got == [["the", "cat", "sat", "on"], ["sat", "on", "the", "mat"]], (
        f"chunk_tokens(a tuple of 6 words, 4, 2) = {got!r}: windows are lists, and a window "
        "inside the previous one is not emitted")


def test_chunk_tokens_does_not_modify_its_input(kata):
    tokens = list(range(9))
    _windows(kata, tokens, 4, 1)
    assert tokens == list(range(9)), "chunk_tokens modified the tokens it was given"


@pytest.mark.parametrize("size, overlap", [(4, 4), (4, 5), (0, 0), (-2, 0), (3, -1), (1, 1)])
def test_chunk_tokens_rejects_bad_size_or_overlap(kata, size, overlap):
    with pytest.raises(ValueError):
        kata.chunk_tokens(list(range(10)), size, overlap)
    with pytest.raises(ValueError):
        kata.chunk_tokens([], size, overlap)  # checked even when there is nothing to chunk


# ---------------------------------------------------------------------------------------------
# split_sentences

def _ref_sentences(text):
    return [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


@pytest.mark.parametrize("text, expected", [
    ("Hi there.  Is 3.14 pi?\nYes! ok", ["Hi there.", "Is 3.14 pi?", "Yes!", "ok"]),
    ("One. Two. Three.", ["One.", "Two.", "Three."]),
    ("no mark at all", ["no mark at all"]),
    ("  Wait...   what?!  \n", ["Wait...", "what?!"]),
    ("e.g. this, i.e.that.", ["e.g.", "this, i.e.that."]),
    ("", []),
    (" \n\t ", []),
])
def test_split_sentences_examples(kata, text, expected):
    got = kata.split_sentences(text)
    msg = f"split_sentences({text!r}) = {got!r}, expected {expected!r}"
    if isinstance(got, list) and got == expected[:-1] and expected:
        msg += " [likely bug: the last sentence was dropped]"
    assert got == expected, msg


def _random_text(rng, n_words=60, long_words=False):
    words = []
    for _ in range(n_words):
        length = int(rng.integers(1, 30 if long_words and rng.random() < 0.1 else 9))
        word = "".join(rng.choice(list("abcdefghij"), length))
        r = rng.random()
        if r < 0.2:
            word += str(rng.choice([".", "!", "?", "...", "?!"]))
        elif r < 0.27:
            word = word[: length // 2] + "." + word[length // 2:]  # 3.14: not an end
        elif r < 0.32:
            word += ","
        words.append(word)
    seps = [" ", " ", " ", "  ", "\n", "\t", " \n "]
    body = "".join(w + str(rng.choice(seps)) for w in words)
    return str(rng.choice(["", " ", "\n"])) + body.rstrip() + str(rng.choice(["", " ", "\n"]))


@pytest.mark.parametrize("seed", (0, 1, 2, 3))
def test_split_sentences_matches_a_regex_split_on_random_text(kata, seed):
    text = _random_text(np.random.default_rng(seed))
    got = kata.split_sentences(text)
    expected = _ref_sentences(text)
    first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                 min(len(got), len(expected)))
    assert got == expected, (
        f"split_sentences differs from splitting after . ! ? followed by whitespace (seed "
        f"{seed}): got {len(got)} sentences, expected {len(expected)}; first difference at "
        f"{first}")


# ---------------------------------------------------------------------------------------------
# chunk_sentences

def _greedy(units, max_chars):
    """Index-based greedy packing: extend a chunk while the joined text fits."""
    chunks, i = [], 0
    while i < len(units):
        j = i + 1
        while j < len(units) and len(" ".join(units[i:j + 1])) <= max_chars:
            j += 1
        chunks.append(" ".join(units[i:j]))
        i = j
    return chunks


def _ref_chunks(text, max_chars):
    groups, run = [], []
    for s in _ref_sentences(text):
        if len(s) <= max_chars:
            run.append(s)
            continue
        groups += [run, [w[i:i + max_chars] for w in s.split()
                         for i in range(0, len(w), max_chars)]]
        run = []
    return [c for g in groups + [run] for c in _greedy(g, max_chars)]


def _chunks(kata, text, max_chars):
    out = kata.chunk_sentences(text, max_chars)
    assert out is not None, "chunk_sentences returned None; return the list of chunks"
    assert isinstance(out, list) and all(isinstance(c, str) for c in out), (
        f"chunk_sentences must return a list of str, got {out!r}")
    return out


def _explain_chunks(got, text, max_chars):
    """The first broken rule of chunk_sentences, in words, or None."""
    for c in got:
        if not c:
            return "an empty chunk was emitted"
        if len(c) == max_chars + 1 and " " in c:
            return (f"a chunk has {max_chars + 1} characters: the joining space was not counted "
                    f"(the chunk plus ' ' plus the sentence must fit in max_chars)")
        if len(c) > max_chars:
            return f"a chunk has {len(c)} > max_chars = {max_chars} characters"
        if c != " ".join(c.split()):
            return f"chunk {c!r} has leading, trailing or repeated whitespace"
    squeeze = "".join(text.split())
    if "".join("".join(got).split()) != squeeze:
        if squeeze.startswith("".join("".join(got).split())):
            return "the end of the text is missing: was the last sentence or chunk dropped?"
        return "the chunks do not contain the words of the text, in order, exactly once"
    return None


@pytest.mark.parametrize("text, max_chars, expected", [
    # exactly max_chars fits; one more does not
    ("One two. Three four. Five.", 20, ["One two. Three four.", "Five."]),
    ("One two. Three four. Five.", 19, ["One two.", "Three four. Five."]),
    ("One two. Three four. Five.", 26, ["One two. Three four. Five."]),
    # "ab. cd." is 7 characters: the joining space counts
    ("ab. cd.", 7, ["ab. cd."]),
    ("ab. cd.", 6, ["ab.", "cd."]),
    # the last sentence has no mark and must not be dropped
    ("First one. And a tail", 11, ["First one.", "And a tail"]),
    # a sentence too long on its own: cut at word boundaries, in chunks of its own
    ("Hi. alpha beta gamma delta. Yo.", 11, ["Hi.", "alpha beta", "gamma", "delta.", "Yo."]),
    ("Hi. alpha beta gamma delta. Yo.", 12, ["Hi.", "alpha beta", "gamma delta.", "Yo."]),
    # a word longer than max_chars: hard-split into max_chars pieces, packed as words
    ("Hi. Supercalifragilistic word.", 8, ["Hi.", "Supercal", "ifragili", "stic", "word."]),
    ("abcdefghij k.", 4, ["abcd", "efgh", "ij", "k."]),
    ("abcdefg h.", 5, ["abcde", "fg h."]),
    ("abcdefghij k.", 5, ["abcde", "fghij", "k."]),
    ("abc de", 1, ["a", "b", "c", "d", "e"]),
    # whitespace of any kind separates words and is normalised to single spaces
    ("  A  b.\n\nC\td!  ", 10, ["A b. C d!"]),
    ("", 10, []),
    (" \n ", 10, []),
])
def test_chunk_sentences_examples(kata, text, max_chars, expected):
    got = _chunks(kata, text, max_chars)
    if got != expected:
        why = _explain_chunks(got, text, max_chars)
        raise AssertionError(f"chunk_sentences({text!r}, {max_chars}) = {got!r}, expected "
                             f"{expected!r}" + (f" [likely bug: {why}]" if why else ""))


def test_a_long_sentence_closes_the_current_chunk_and_the_next_starts_fresh(kata):
    # "A." would fit in front of "bbb ccc" and "D." after "eee.", but a sentence too long on
    # its own is chunked alone.
    got = _chunks(kata, "A. bbb ccc ddd eee. D.", 10)
    assert got == ["A.", "bbb ccc", "ddd eee.", "D."], (
        f"chunk_sentences('A. bbb ccc ddd eee. D.', 10) = {got!r}, expected "
        "['A.', 'bbb ccc', 'ddd eee.', 'D.']: a sentence longer than max_chars ends the current "
        "chunk, is cut into chunks of its own, and the next sentence starts a new chunk")


CHUNK_CASES = [(seed, m) for seed in (10, 11, 12) for m in (1, 9, 25, 70)]


@pytest.mark.parametrize("seed, max_chars", CHUNK_CASES)
def test_chunk_sentences_matches_the_reference_on_random_text(kata, seed, max_chars):
    text = _random_text(np.random.default_rng(seed), long_words=True)
    got = _chunks(kata, text, max_chars)
    expected = _ref_chunks(text, max_chars)
    if got != expected:
        why = _explain_chunks(got, text, max_chars)
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                     min(len(got), len(expected)))
        raise AssertionError(
            f"chunk_sentences(random text, seed {seed}, max_chars={max_chars}): {len(got)} "
            f"chunks, expected {len(expected)}; first difference at chunk {first}: got "
            f"{got[first] if first < len(got) else None!r}, expected "
            f"{expected[first] if first < len(expected) else None!r}"
            + (f" [likely bug: {why}]" if why else ""))


@pytest.mark.parametrize("seed, max_chars", CHUNK_CASES)
def test_chunks_respect_the_limit_and_keep_every_word_in_order(kata, seed, max_chars):
    text = _random_text(np.random.default_rng(seed), long_words=True)
    got = _chunks(kata, text, max_chars)
    why = _explain_chunks(got, text, max_chars)
    assert why is None, f"chunk_sentences(random text, seed {seed}, max_chars={max_chars}): {why}"


@pytest.mark.parametrize("seed, slack", [(20, 0), (21, 15), (22, 60)])
def test_greedy_packing_is_maximal(kata, seed, slack):
    # max_chars is at least the longest sentence, so every sentence fits: each chunk is a run
    # of whole sentences, and no chunk could have taken the first sentence of the next one.
    text = _random_text(np.random.default_rng(seed))
    sentences = _ref_sentences(text)
    max_chars = max(map(len, sentences)) + slack
    got = _chunks(kata, text, max_chars)
    i = 0
    for c, nxt in zip(got, got[1:] + [None], strict=False):
        j = i
        while j < len(sentences) and len(" ".join(sentences[i:j + 1])) <= len(c):
            j += 1
        assert " ".join(sentences[i:j]) == c, (
            f"chunk {c!r} is not a run of whole sentences (expected it to start with "
            f"{sentences[i]!r})")
        if nxt is not None:
            assert len(c) + 1 + len(sentences[j]) > max_chars, (
                f"chunk {c!r} ({len(c)} chars) could also take the next sentence "
                f"{sentences[j]!r} within max_chars = {max_chars}: packing must be greedy")
        i = j
    assert i == len(sentences), f"{len(sentences) - i} sentence(s) at the end are missing"


@pytest.mark.parametrize("max_chars", (0, -3))
def test_chunk_sentences_rejects_a_non_positive_limit(kata, max_chars):
    with pytest.raises(ValueError):
        kata.chunk_sentences("Some text. More.", max_chars)
    with pytest.raises(ValueError):
        kata.chunk_sentences("", max_chars)  # checked even when there is nothing to chunk
