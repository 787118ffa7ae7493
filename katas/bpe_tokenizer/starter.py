# Your attempt at the `bpe_tokenizer` kata: fill in every TODO, then run
#     nox -s kata -- bpe_tokenizer
# Generated from solutions/bpe_tokenizer.py; `dojo reset bpe_tokenizer` archives this file and starts over.
"""Byte-level BPE tokenizer from scratch (pure Python): train, encode, decode.

Build the tokenizer of GPT-2-style models, on raw UTF-8 bytes (no regex pre-splitting):

    pair_counts(ids)                 {(a, b): count} over adjacent positions of a list of ids
    merge(ids, pair, new_id)         ids with every occurrence of `pair` replaced by new_id
    train_bpe(text, vocab_size)      the list of merges [((a, b), new_id), ...]
    build_vocab(merges)              {id: bytes}: 256 single bytes, then one entry per merge
    encode(text, merges)             list[int] token ids of `text`
    decode(ids, vocab)               the str those ids spell

Conventions
-----------
- Base vocabulary: ids 0..255 are the 256 byte values. Merge i (0-based) creates id 256 + i,
  so `merges` is a list of ((a, b), new_id) with new_id = 256, 257, ... in the order the merges
  were learned; that order is also their rank (lower = applied first).
- pair_counts counts every adjacent position i with (ids[i], ids[i+1]) == (a, b), overlapping
  occurrences included (as Sennrich's BPE, GPT-2 and minbpe count): [a, a, a] has (a, a) twice.
- merge scans left to right and does not overlap: [a, a, a] with (a, a) -> X gives [X, a],
  and [a, a, a, a] gives [X, X].
- train_bpe works on text.encode("utf-8") as one sequence. Each step merges the most frequent
  pair; ties go to the smallest pair (a, b) in tuple order (a first, then b). It learns
  vocab_size - 256 merges, or stops early when fewer than two tokens are left (no pair to
  count). vocab_size < 256 raises ValueError; vocab_size == 256 gives [].
- encode starts from the UTF-8 bytes of the text and repeatedly merges the adjacent pair of
  lowest rank (the earliest learned merge) among those present, until no present pair has a
  merge. Encoding the training text reproduces the sequence training ended with.
- decode joins the bytes of all tokens first and decodes once, as UTF-8 with
  errors="replace": a token may hold half of a multi-byte character, and invalid bytes
  become U+FFFD instead of raising.

Pitfalls an interviewer looks for
---------------------------------
- merge must skip both tokens after a match: "aaa" -> [X, a], not [X, X].
- encode must apply merges by rank, not left to right by position and not by frequency in
  the new text: with merges [(b, c), (a, b)], "abc" encodes to [a, bc], not [ab, c].
- decode must not call .decode() per token: "é" is two bytes, and a token boundary between
  them would produce two replacement characters.
"""

from __future__ import annotations

from itertools import pairwise


def pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """{(a, b): number of positions i with ids[i] == a and ids[i + 1] == b} (overlaps count).

    ids: list of ints. An empty or one-token list has no pairs: {}.
    """
    # TODO: count each adjacent pair (ids[i], ids[i + 1])
    raise NotImplementedError('TODO: count each adjacent pair (ids[i], ids[i + 1])')


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """A new list: ids with each occurrence of `pair` replaced by new_id, scanning left to right
    without overlap ([a, a, a] with (a, a) -> [new_id, a]). ids itself is left unchanged."""
    # TODO: one left-to-right scan; after a match, move past both tokens
    raise NotImplementedError('TODO: one left-to-right scan; after a match, move past both tokens')


def train_bpe(text: str, vocab_size: int) -> list[tuple[tuple[int, int], int]]:
    """Learn vocab_size - 256 merges on the UTF-8 bytes of `text`.

    Returns [((a, b), new_id), ...] with new_id = 256, 257, ... in learning order. Each step
    merges the most frequent adjacent pair, ties to the smallest (a, b); stops early when no
    pair is left. Raises ValueError if vocab_size < 256.
    """
    # TODO: start from the bytes; repeatedly count pairs, pick the most frequent
    #       (ties: smallest pair), merge it everywhere and record it
    raise NotImplementedError('TODO: start from the bytes; repeatedly count pairs, pick the most frequent')


def build_vocab(merges: list[tuple[tuple[int, int], int]]) -> dict[int, bytes]:
    """{id: bytes}: ids 0..255 are single bytes, each merge ((a, b), new_id) maps new_id to
    vocab[a] + vocab[b]. Merges must come in learning order."""
    # TODO: the 256 single bytes, then each merged token as the concatenation of its pair
    raise NotImplementedError('TODO: the 256 single bytes, then each merged token as the concatenation of its pair')


def encode(text: str, merges: list[tuple[tuple[int, int], int]]) -> list[int]:
    """Token ids of `text`: its UTF-8 bytes, then merges applied by rank (earliest learned
    first) until none applies. "" -> []."""
    # TODO: from the bytes, repeatedly merge the present pair with the lowest rank
    raise NotImplementedError('TODO: from the bytes, repeatedly merge the present pair with the lowest rank')


def decode(ids: list[int], vocab: dict[int, bytes]) -> str:
    """The text spelled by `ids`: the bytes of all tokens joined, then decoded once as UTF-8
    with errors="replace" (invalid bytes become U+FFFD)."""
    # TODO: join the bytes of every token, then decode once (invalid bytes -> U+FFFD)
    raise NotImplementedError('TODO: join the bytes of every token, then decode once (invalid bytes -> U+FFFD)')
