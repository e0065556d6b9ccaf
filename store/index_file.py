"""The memory index's file: a JSON header and a payload, written atomically, checked when read.

Layout: MAGIC, the header's length (8 bytes, big endian), the header (JSON, holding the payload's
SHA-256), the payload. A write goes to a temporary file that is fsynced and then renamed over the old
one, so a crash mid-write leaves the previous file whole.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

MAGIC = b"ORCHMEM1"


class IndexFileError(Exception):
    """The file is missing, truncated, or not what was written."""


def write_atomic(path: Path, header: dict[str, Any], payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = orjson.dumps({**header, "payload_sha256": hashlib.sha256(payload).hexdigest()})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(MAGIC + len(head).to_bytes(8, "big") + head)
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_checked(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IndexFileError(f"cannot read {path}: {error.strerror}") from None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise IndexFileError(f"{path} is not a memory index file")
    start = len(MAGIC) + 8
    length = int.from_bytes(data[len(MAGIC) : start], "big")
    try:
        header = orjson.loads(data[start : start + length])
    except orjson.JSONDecodeError:
        raise IndexFileError(f"{path} has a damaged header") from None
    payload = data[start + length :]
    if not isinstance(header, dict) or header.get("payload_sha256") != hashlib.sha256(payload).hexdigest():
        raise IndexFileError(f"{path} is damaged (checksum mismatch)")
    return header, payload
