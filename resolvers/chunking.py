"""Splitting a document into memories: at headings and between paragraphs, each piece under a size cap.

A heading always starts a new chunk; paragraphs are packed into the current chunk while it stays
under `max_chars`; a paragraph too long on its own is cut between lines, and a line too long on its own
is cut into pieces. Each chunk keeps the 1-based, inclusive line range it came from.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")


@dataclass(frozen=True)
class Chunk:
    text: str
    line_start: int
    line_end: int


@dataclass
class _Block:
    lines: list[tuple[int, str]]
    heading: bool

    @property
    def size(self) -> int:
        return sum(len(text) + 1 for _, text in self.lines)


def _blocks(lines: list[str]) -> list[_Block]:
    """Paragraphs (runs of non-blank lines); a heading line is a block of its own kind and starts one."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            current = None
            continue
        if _HEADING.match(text):
            current = _Block([(number, text)], heading=True)
            blocks.append(current)
        elif current is None:
            current = _Block([(number, text)], heading=False)
            blocks.append(current)
        else:
            current.lines.append((number, text))
    return blocks


def _pieces(line: tuple[int, str], max_chars: int) -> list[tuple[int, str]]:
    number, text = line
    return [(number, text[i : i + max_chars]) for i in range(0, len(text), max_chars)]


def chunk_text(text: str, max_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    pending: list[tuple[int, str]] = []

    def flush() -> None:
        if pending:
            parts = [pending[0][1]]
            for (before, _), (number, piece) in itertools.pairwise(pending):
                parts.append(piece if number <= before + 1 else "\n" + piece)  # keep paragraph breaks
            chunks.append(Chunk("\n".join(parts).strip(), pending[0][0], pending[-1][0]))
            pending.clear()

    def size() -> int:
        return sum(len(t) + 1 for _, t in pending)

    for block in _blocks(text.splitlines()):
        if block.heading or (pending and size() + block.size > max_chars):
            flush()
        for line in block.lines:
            for piece in _pieces(line, max_chars) if len(line[1]) > max_chars else [line]:
                if pending and size() + len(piece[1]) + 1 > max_chars:
                    flush()
                pending.append(piece)
    flush()
    return [chunk for chunk in chunks if chunk.text]
