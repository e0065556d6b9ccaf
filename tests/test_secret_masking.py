"""Masking secret values in text and in streams cut anywhere, including inside a value."""

from __future__ import annotations

import random

from resolvers.log_redaction import redact
from resolvers.secret_masking import MASK, Masker


def streamed(masker: Masker, chunks: list[str]) -> str:
    stream = masker.stream()
    return "".join(stream.feed(chunk) for chunk in chunks) + stream.flush()


def test_every_cut_of_a_stream_masks_every_value() -> None:
    values = ["sk-live-4f9a8b7c6d5e", "ghp_TOKENvalue123", "sk-live-4f9a"]
    text = "key sk-live-4f9a8b7c6d5e and ghp_TOKENvalue123, short sk-live-4f9a! sk-live-4f9a8b7"
    masker = Masker(values)
    expected = masker.mask(text)
    assert expected == f"key {MASK} and {MASK}, short {MASK}! {MASK}8b7"
    for cut in range(len(text) + 1):
        assert streamed(masker, [text[:cut], text[cut:]]) == expected, cut
    generator = random.Random(12)
    for _ in range(300):
        cuts = sorted(generator.sample(range(len(text)), 6))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert streamed(masker, chunks) == expected


def test_only_a_possible_beginning_of_a_value_is_held_back() -> None:
    stream = Masker(["abcdef"]).stream()
    assert stream.feed("hello abc") == "hello "
    assert stream.feed("x and ab") == "abcx and "
    assert stream.feed("cdef!") == f"{MASK}!"
    assert stream.flush() == ""
    assert Masker([]).stream().feed("anything") == "anything"


def test_lines_of_a_multi_line_value_and_short_values() -> None:
    key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2E\n-----END KEY-----"
    masker = Masker([key, "abc"])
    assert masker.mask(f"dump:\n{key}\n") == f"dump:\n{MASK}\n"
    assert masker.mask("line AAAAB3NzaC1yc2E only") == f"line {MASK} only"
    assert masker.mask("abc stays: too short to mask") == "abc stays: too short to mask"


def test_tokens_are_redacted_from_log_lines() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    line = f'127.0.0.1:5000 - "WebSocket /api/progress/subscribe/p?token={jwt}&after=3" [accepted]'
    assert redact(line) == '127.0.0.1:5000 - "WebSocket /api/progress/subscribe/p?token=***&after=3" [accepted]'
    assert redact("GET /x?access_token=abc&refresh_token=def") == "GET /x?access_token=***&refresh_token=***"
    assert redact(f"Authorization: Bearer {jwt}") == "Authorization: Bearer ***"
    assert redact(f"body {jwt} end") == "body *** end"
