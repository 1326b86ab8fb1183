"""Prices: the worst-case cost of a request before the upstream call, the actual cost after.

Prices are integer micro-credits per million tokens (Settings.prices, per model variant);
a cost is rounded up to the next micro-credit once per request, never per token kind.

The worst case must never be below the actual cost, or a served request would be partly
free (a post may not exceed its reservation). So:

- input tokens are bounded by the request's size in bytes, without a tokenizer download:
  byte-level BPE tokenizers (OpenAI's cl100k/o200k, Anthropic's) emit at least one byte per
  token, and the JSON request carries every prompt byte plus quoting and the role/field
  names that stand for the chat template's few special tokens per message. Dividing by
  ``credits.input_bytes_per_token`` (default 1, the true bound) reserves less at the risk
  of an underestimate, which ``settle`` then records as ``uncharged``;
- images are referenced by URL or carried as base64, so bytes say nothing of their token
  cost: each image part adds ``credits.image_tokens`` (default 4096; Anthropic bills about
  width*height/750, at most about 1,600 after its resize; OpenAI's patch models at most
  1,536 patches times a model multiplier of up to about 2.5);
- the bound is clamped to the variant's context window, since a longer prompt is refused
  (and not billed) upstream;
- every input token is priced at the dearest input kind (plain, cache read, cache write),
  since the request cannot say which of its tokens the provider will find cached;
- output is clamped to the request's ``max_tokens`` or, without one, the variant's
  ``max_output_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

from enclave.config.settings import CreditsConfig, ModelPrice, Settings
from enclave.ledger.interface import LedgerInputError, PriceRef, UnpricedVariant, Usage

PER = 1_000_000  # prices are per million tokens


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def price_ref(variant: str, price: ModelPrice) -> PriceRef:
    return PriceRef(
        variant=variant,
        input=price.input,
        output=price.output,
        cache_read=price.input if price.cache_read is None else price.cache_read,
        cache_write=price.input if price.cache_write is None else price.cache_write,
    )


def model_price(settings: Settings, variant: str) -> ModelPrice:
    try:
        return settings.prices[variant]
    except KeyError:
        raise UnpricedVariant(
            f"no price is configured for model variant {variant!r}; requests to it are refused",
            hint="add it to `prices` in enclave.toml (see docs/credits.md)",
        ) from None


def input_token_bound(
    request_bytes: int,
    *,
    images: int = 0,
    credits: CreditsConfig,
    context_window: int | None = None,
) -> int:
    if not isinstance(request_bytes, int) or isinstance(request_bytes, bool) or request_bytes < 0:
        raise LedgerInputError("request_bytes must be a non-negative integer")
    if not isinstance(images, int) or isinstance(images, bool) or images < 0:
        raise LedgerInputError("images must be a non-negative integer")
    bound = _ceil_div(request_bytes, credits.input_bytes_per_token) + images * credits.image_tokens
    return bound if context_window is None else min(bound, context_window)


def output_token_bound(max_tokens: int | None, price: ModelPrice) -> int:
    if max_tokens is None:
        return price.max_output_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise LedgerInputError(f"max_tokens must be a positive integer, not {max_tokens!r}")
    return min(max_tokens, price.max_output_tokens)


def worst_case_cost(price: PriceRef, *, input_tokens: int, output_tokens: int) -> int:
    dearest_input = max(price.input, price.cache_read, price.cache_write)
    return _ceil_div(input_tokens * dearest_input + output_tokens * price.output, PER)


def usage_cost(price: PriceRef, usage: Usage) -> int:
    return _ceil_div(
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + usage.cache_write_tokens * price.cache_write,
        PER,
    )


@dataclass(frozen=True, slots=True)
class Estimate:
    """What to reserve for one request, and the price it is made at."""

    price: PriceRef
    input_tokens: int
    output_tokens: int
    amount: int

    @property
    def tokens(self) -> int:
        """Tokens to charge against a tokens-per-minute limit before the call."""
        return self.input_tokens + self.output_tokens


def estimate(
    settings: Settings,
    variant: str,
    *,
    request_bytes: int,
    max_tokens: int | None,
    images: int = 0,
) -> Estimate:
    """The worst-case cost of one request; raises UnpricedVariant for an unpriced model
    (fail closed: a request that cannot be estimated is not served unreserved)."""
    price = model_price(settings, variant)
    ref = price_ref(variant, price)
    inputs = input_token_bound(
        request_bytes, images=images, credits=settings.credits, context_window=price.context_window
    )
    outputs = output_token_bound(max_tokens, price)
    amount = worst_case_cost(ref, input_tokens=inputs, output_tokens=outputs)
    return Estimate(price=ref, input_tokens=inputs, output_tokens=outputs, amount=amount)


__all__ = [
    "Estimate",
    "estimate",
    "input_token_bound",
    "model_price",
    "output_token_bound",
    "price_ref",
    "usage_cost",
    "worst_case_cost",
]
