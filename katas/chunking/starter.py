# Your attempt at the `chunking` kata: fill in every TODO, then run
#     nox -s kata -- chunking
# Generated from solutions/chunking.py; `dojo reset chunking` archives this file and starts over.
"""Chunking for retrieval: sliding token windows and sentence-packed text chunks.

Build three functions (pure Python, no libraries needed):

    chunk_tokens(tokens, size, overlap)   -> list of lists: overlapping windows of tokens
    split_sentences(text)                 -> list of str: the sentences of text
    chunk_sentences(text, max_chars)      -> list of str: sentences packed into chunks

chunk_tokens
------------
`tokens` is any sequence (a list of strings or ints, a tuple, ...); the result is a list of
lists. Windows start at 0, stride, 2 * stride, ... with stride = size - overlap, and the
window at `start` is tokens[start:start + size]. Stop right after the first window that
reaches the end of the tokens (start + size >= len(tokens)): the last window may be shorter
than `size`, but a window that would lie entirely inside the previous one is NOT emitted.
So consecutive windows share exactly `overlap` tokens, every window but the last has `size`
tokens, and removing the first `overlap` tokens of every window but the first and
concatenating gives the tokens back exactly. No tokens give no windows ([]).
Raise ValueError unless 0 <= overlap < size (so size >= 1).

    chunk_tokens(list(range(10)), size=4, overlap=2)
        -> [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]      ([8, 9] is not emitted)
    chunk_tokens(list(range(11)), size=4, overlap=1)
        -> [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 10]]

split_sentences
---------------
Words are the maximal runs of non-whitespace (`text.split()`). A sentence ends after a word
whose last character is '.', '!' or '?' (that is, the mark is followed by whitespace or by
the end of the text: "3.14" and "e.g.," end nothing). Text after the last mark is a final
sentence. Each sentence is returned as its words joined by single spaces.

    split_sentences("Hi there.  Is 3.14 pi?\\nYes! ok")
        -> ["Hi there.", "Is 3.14 pi?", "Yes!", "ok"]

chunk_sentences
---------------
Greedily pack whole sentences, in order, into chunks joined by single spaces, each at most
`max_chars` characters: a sentence joins the current chunk if the chunk plus one space plus
the sentence still fits, else it starts a new chunk. A sentence longer than `max_chars` on
its own closes the current chunk and is cut into chunks of its own: its words are packed the
same greedy way, and a word longer than `max_chars` is first hard-split into pieces of
`max_chars` characters (the last piece shorter), each packed as a word. The sentence after it
starts a new chunk. No chunk is empty; text with no words gives []. Raise ValueError if
max_chars < 1.

    chunk_sentences("One two. Three four. Five.", 20) -> ["One two. Three four.", "Five."]
    chunk_sentences("Hi. Supercalifragilistic word.", 8)
        -> ["Hi.", "Supercal", "ifragili", "stic", "word."]

Pitfalls an interviewer looks for
---------------------------------
- Stride = size (no overlap) or size + overlap; a duplicated tail window that lies inside the
  previous one, or a missing tail; an empty window for empty input.
- Counting a chunk's length without the joining space, so chunks exceed max_chars by one.
- Dropping the last sentence (the one without a final mark, or the last chunk in the buffer).
"""

from __future__ import annotations


def chunk_tokens(tokens, size, overlap):
    """Windows of `size` tokens, consecutive ones sharing `overlap` tokens. -> list of lists."""
    # TODO: validate, then slide a window by size - overlap and stop once a window
    #       has reached the end of the tokens
    raise NotImplementedError('TODO: validate, then slide a window by size - overlap and stop once a window')


def split_sentences(text):
    """Sentences of `text` (a list of str): a sentence ends after a word ending in '.', '!', '?'."""
    # TODO: walk the words, closing a sentence after each word ending in . ! or ?
    raise NotImplementedError('TODO: walk the words, closing a sentence after each word ending in . ! or ?')


def _pack(units, max_chars):
    """Greedily join units (each at most max_chars long) with single spaces into strings of at
    most max_chars characters. -> list of str."""
    # TODO: greedy packing: a unit joins the current chunk if one space plus it still fits
    raise NotImplementedError('TODO: greedy packing: a unit joins the current chunk if one space plus it still fits')


def chunk_sentences(text, max_chars):
    """Pack the sentences of `text` greedily into chunks of at most max_chars characters,
    cutting a sentence that is too long on its own at word boundaries. -> list of str."""
    # TODO: pack runs of sentences that fit; a sentence that is too long on its own ends the
    #       run and is packed word by word (hard-splitting words longer than max_chars)
    raise NotImplementedError('TODO: pack runs of sentences that fit; a sentence that is too long on its own ends the')
