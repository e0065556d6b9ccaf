"""Replacing secret values by `***` in text: at once (`Masker.mask`), or in a stream of chunks
(`StreamMasker`), where a value split across two chunks must be caught too.

A stream holds back only what could still become a secret: the end of a chunk that is the beginning of
some value. Everything else goes out at once, so live output is not delayed.

Values shorter than `MIN_SECRET_LENGTH` are not masked (they would garble ordinary output; secrets
refuse them). Each line of a multi-line value is masked on its own as well, since programs re-wrap lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4


def _patterns(values: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for value in values:
        if len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
        if "\n" in value:
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_SECRET_LENGTH)
    return found


class Masker:
    def __init__(self, values: Iterable[str]) -> None:
        self.patterns = sorted(_patterns(values), key=len, reverse=True)
        """Longest first: at one position the regex takes the first alternative that matches."""
        self._regex = re.compile("|".join(map(re.escape, self.patterns))) if self.patterns else None
        self._first_characters = {pattern[0] for pattern in self.patterns}
        self._longest = len(self.patterns[0]) if self.patterns else 0

    def __bool__(self) -> bool:
        return self._regex is not None

    def mask(self, text: str) -> str:
        return self._regex.sub(MASK, text) if self._regex is not None and text else text

    def mask_within(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings) with every string in it masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {key: self.mask_within(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_within(item) for item in value]
        return value

    def stream(self) -> StreamMasker:
        return StreamMasker(self)

    def next_match(self, text: str, start: int) -> re.Match[str] | None:
        return self._regex.search(text, start) if self._regex is not None else None

    def unfinished_from(self, text: str, start: int) -> int | None:
        """The first position at or after `start` from which the rest of `text` is the beginning (not the
        whole) of a value: the next chunk may complete it."""
        for position in range(max(start, len(text) - self._longest + 1), len(text)):
            if text[position] not in self._first_characters:
                continue
            rest = text[position:]
            if any(len(pattern) > len(rest) and pattern.startswith(rest) for pattern in self.patterns):
                return position
        return None


class StreamMasker:
    """Masks one stream chunk by chunk; `flush()` at its end gives back what was held."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.masker:
            return text
        buffer = self.pending + text
        out: list[str] = []
        position = 0
        while True:
            match = self.masker.next_match(buffer, position)
            held = self.masker.unfinished_from(buffer, position)
            # A match wins unless a longer value may still be completed from the same place or before it.
            if match is not None and (held is None or match.start() < held):
                out += (buffer[position : match.start()], MASK)
                position = match.end()
                continue
            end = len(buffer) if held is None else held
            out.append(buffer[position:end])
            self.pending = buffer[end:]
            return "".join(out)

    def flush(self) -> str:
        rest, self.pending = self.masker.mask(self.pending), ""
        return rest
