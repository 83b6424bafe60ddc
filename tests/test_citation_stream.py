"""MarkerStream: the [n] markers of a streamed reply numbered as the final answer numbers them."""

from __future__ import annotations

import pytest

from rag.answer.citations import MarkerStream, parse_citations
from rag.types import Chunk, Hit, Span

REPLY = "Beta hired 20 engineers [3][7]. Alpha invested 4 million [1, 3]. See [the appendix] and [2 ]."


def _hits(n: int) -> list[Hit]:
    chunks = [Chunk(f"c{i}", "d", f"s{i}.txt", i, 0, 20, f"Sentence number {i}.", "en", "",
                    (Span(0, 20, f"Sentence number {i}."),)) for i in range(n)]
    return [Hit(chunk, 1.0 - i / 10) for i, chunk in enumerate(chunks)]


def _streamed(reply: str, cuts: list[int], sources: int, hold: str = "") -> str:
    stream = MarkerStream(sources, hold_token=hold)
    pieces = [reply[a:b] for a, b in zip([0, *cuts], [*cuts, len(reply)])]
    return "".join(stream.feed(p) for p in pieces) + stream.flush()


@pytest.mark.parametrize("cut", range(1, len(REPLY)))
def test_markers_split_anywhere_are_numbered_as_in_the_final_answer(cut):
    final = parse_citations(REPLY, _hits(3)).text
    assert _streamed(REPLY, [cut], sources=3) == final
    assert final == "Beta hired 20 engineers [1]. Alpha invested 4 million [2][1]. See [the appendix] and [3]."


def test_token_by_token_stream_holds_an_open_marker_until_it_closes():
    stream = MarkerStream(5)
    assert stream.feed("Alpha grew [") == "Alpha grew "
    assert stream.feed("4") == ""
    assert stream.feed("] fast") == "[1] fast"
    assert stream.feed(" [x") == " [x"  # not a marker: shown at once
    assert stream.flush() == ""


def test_the_no_answer_token_is_held_and_never_shown():
    assert _streamed("NO_ANSWER", [2, 5], sources=3, hold="NO_ANSWER") == ""
    assert _streamed("  NO_ANSWER.", [3], sources=3, hold="NO_ANSWER") == ""
    # A reply that only starts like the token is shown whole once it differs.
    assert _streamed("NO doubt [1].", [1, 2, 4], sources=3, hold="NO_ANSWER") == "NO doubt [1]."
