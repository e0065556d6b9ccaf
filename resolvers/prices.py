"""What tokens cost, for CLIs that report tokens but no cost (and for a running task, before its CLI's final
figure): USD per million tokens by model, from a built-in table overridden and extended by AGENT_PRICES.

A model matches the longest entry it starts with (`claude-sonnet-4-5-20250929` takes `claude-sonnet-4`), so an
entry may name a family. A model no entry matches has no price: its cost stays unknown (and a USD budget
cannot stop its task before the CLI reports a cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float


def _price(input: float, output: float, cache_read: float | None = None, cache_write: float | None = None) -> Price:
    return Price(
        input, output, input / 10 if cache_read is None else cache_read, input if cache_write is None else cache_write
    )


BUILT_IN: dict[str, Price] = {
    "claude-opus-4-5": _price(5, 25, 0.5, 6.25),
    "claude-opus-4": _price(15, 75, 1.5, 18.75),
    "claude-sonnet-4": _price(3, 15, 0.3, 3.75),
    "claude-3-7-sonnet": _price(3, 15, 0.3, 3.75),
    "claude-haiku-4-5": _price(1, 5, 0.1, 1.25),
    "claude-3-5-haiku": _price(0.8, 4, 0.08, 1),
    "qwen3-coder-plus": _price(1, 5),
    "qwen3-coder-flash": _price(0.3, 1.5),
    "gemini-2.5-pro": _price(1.25, 10, 0.31),
    "gemini-2.5-flash": _price(0.3, 2.5, 0.075),
    "gpt-5-codex": _price(1.25, 10, 0.125, 0),
    "gpt-5": _price(1.25, 10, 0.125, 0),
}
"""List prices at the time of writing (the standard tier, short prompts); set AGENT_PRICES for yours."""


class PriceTable:
    def __init__(self, overrides: Mapping[str, Mapping[str, float]]) -> None:
        self.prices = dict(BUILT_IN)
        for model, given in overrides.items():
            self.prices[model] = _price(
                given["input"], given.get("output", 0.0), given.get("cacheRead"), given.get("cacheWrite")
            )
        self._by_length = sorted(self.prices, key=len, reverse=True)

    def price_of(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        return next((self.prices[key] for key in self._by_length if model.startswith(key)), None)

    def cost(self, model: str | None, input: int, output: int, cache_read: int, cache_write: int) -> float | None:
        price = self.price_of(model)
        if price is None:
            return None
        return (
            input * price.input
            + output * price.output
            + cache_read * price.cache_read
            + cache_write * price.cache_write
        ) / MILLION
