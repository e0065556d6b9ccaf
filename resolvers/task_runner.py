"""What running one task needs besides the scheduler: its bounded output, its artifacts."""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resolvers.secret_masking import Masker, StreamMasker
from store.models import Sandbox, utcnow

OUTPUT_LIMIT = 256 * 1024
"""Characters of terminal output kept per task; beyond it the oldest part is cut (and the cut marked)."""
STDERR_TAIL = 2000
SKIPPED_FOLDERS = frozenset({".git", ".orchestrator", "node_modules", "__pycache__"})
"""Not looked at for artifacts; `.orchestrator` holds the agents' home and the tasks' worktrees."""

Snapshot = dict[str, tuple[int, int]]
"""Relative path → (size, mtime in ns) of every file in a project folder."""


@dataclass
class OutputBuffer:
    """Decoded terminal output with the task's secrets masked, kept to the last `limit` characters with a
    marker where it was cut. Each stream is decoded and masked on its own: a split UTF-8 character, or a
    secret split across chunks, waits for the stream's next chunk."""

    masker: Masker = field(default_factory=lambda: Masker(()))
    limit: int = OUTPUT_LIMIT
    text: str = ""
    cut: int = 0
    stderr_tail: str = ""
    _decoders: dict[str, Any] = field(default_factory=dict)
    _maskers: dict[str, StreamMasker] = field(default_factory=dict)

    def add(self, stream: str, data: bytes) -> str:
        """Append a chunk; returns the text it adds (what can be shown of it yet)."""
        decoder = self._decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")("replace"))
        masker = self._maskers.setdefault(stream, self.masker.stream())
        return self._append(stream, masker.feed(decoder.decode(data)))

    def finish(self) -> str:
        """At the end of the output: the text every stream still held back."""
        held = []
        for stream, decoder in self._decoders.items():
            masker = self._maskers[stream]
            held.append(self._append(stream, masker.feed(decoder.decode(b"", final=True)) + masker.flush()))
        return "".join(held)

    def _append(self, stream: str, chunk: str) -> str:
        self.text += chunk
        if len(self.text) > self.limit:
            self.cut += len(self.text) - self.limit
            self.text = self.text[-self.limit :]
        if stream == "stderr":
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]
        return chunk

    def kept(self) -> str:
        if not self.cut:
            return self.text
        return f"[… {self.cut} earlier characters cut …]\n{self.text}"


def snapshot(root: Path) -> Snapshot:
    """Every file below `root` (blocking: call it off the event loop)."""
    found: Snapshot = {}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        for name in files:
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            found[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return found


def artifacts_between(before: Mapping[str, tuple[int, int]], after: Snapshot) -> list[dict[str, Any]]:
    """Files created or changed between two snapshots, as the contract's artifact records."""
    now = utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    changed = sorted(path for path, state in after.items() if before.get(path) != state)
    return [
        {"path": path, "type": Path(path).suffix.lstrip(".") or "file", "size": after[path][0], "createdAt": now}
        for path in changed
    ]


def host_folder(folder_mapping: str, workdir: str) -> Path:
    """The project folder on this host, from a sandbox's `host:container` mapping."""
    suffix = f":{workdir}"
    host = folder_mapping[: -len(suffix)] if folder_mapping.endswith(suffix) else folder_mapping.split(":", 1)[0]
    return Path(host)


def sandbox_folder(record: Sandbox) -> str:
    """The project folder as commands in its sandbox see it: the container's path on Docker; on the local
    backend, which runs commands in the folder itself, its path on this host."""
    if record.backend == "local":
        return str(host_folder(record.folder_mapping, record.workdir))
    return record.workdir
