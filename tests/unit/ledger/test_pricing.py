"""Worst-case estimates and actual costs: integers, rounded up, never below the actual."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger_support import PRICES

from enclave.config import Settings, load_settings
from enclave.errors import ConfigError
from enclave.ledger import LedgerInputError, UnpricedVariant, Usage, estimate, usage_cost
from enclave.ledger.models import format_credits, parse_credits, valid_amount
from enclave.ledger.pricing import input_token_bound, price_ref, worst_case_cost


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return load_settings(environ={}, config_path=tmp_path / "absent.toml").model_copy(
        update={"prices": PRICES}
    )


def test_estimate_bounds_input_by_bytes_and_clamps_output(cfg):
    e = estimate(cfg, "m-large", request_bytes=4000, max_tokens=1000)
    assert (e.input_tokens, e.output_tokens) == (4000, 1000)
    # Every input token at the dearest input kind (cache write, 3.75/M), output at 15/M.
    assert e.amount == -(-(4000 * 3_750_000 + 1000 * 15_000_000) // 1_000_000)
    assert e.price.variant == "m-large" and e.tokens == 5000


def test_output_defaults_and_clamps_to_the_model_maximum(cfg):
    assert estimate(cfg, "m-large", request_bytes=10, max_tokens=None).output_tokens == 8192
    assert estimate(cfg, "m-large", request_bytes=10, max_tokens=10**9).output_tokens == 8192


def test_input_is_clamped_to_the_context_window_and_images_add_an_allowance(cfg):
    assert estimate(cfg, "m-large", request_bytes=10**7, max_tokens=1).input_tokens == 200_000
    with_images = estimate(cfg, "m-large", request_bytes=100, max_tokens=1, images=2)
    assert with_images.input_tokens == 100 + 2 * cfg.credits.image_tokens


def test_bytes_per_token_tunes_the_bound(cfg):
    tuned = cfg.credits.model_copy(update={"input_bytes_per_token": 3})
    assert input_token_bound(10, credits=tuned) == 4  # rounded up


def test_an_unpriced_variant_cannot_be_estimated(cfg):
    with pytest.raises(UnpricedVariant, match="no price") as caught:
        estimate(cfg, "unknown-model", request_bytes=1, max_tokens=1)
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"request_bytes": -1, "max_tokens": 1}, "request_bytes"),
        ({"request_bytes": 1.5, "max_tokens": 1}, "request_bytes"),
        ({"request_bytes": 1, "max_tokens": 0}, "max_tokens"),
        ({"request_bytes": 1, "max_tokens": "5"}, "max_tokens"),
        ({"request_bytes": 1, "max_tokens": 5, "images": -1}, "images"),
    ],
)
def test_bad_estimate_input(cfg, kw, message):
    with pytest.raises(LedgerInputError, match=message):
        estimate(cfg, "m-large", **kw)


def test_prices_in_settings_refuse_floats(tmp_path):
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(
            environ={
                "ENCLAVE_PRICES": '{"m": {"input": 0.3, "output": 1, "max_output_tokens": 9}}'
            },
            config_path=tmp_path / "absent.toml",
        )


tokens = st.integers(min_value=0, max_value=2_000_000)


@given(
    text=st.text(max_size=300),
    output=tokens,
    max_tokens=st.integers(min_value=1, max_value=100_000),
    cached=st.integers(min_value=0, max_value=100),
)
def test_actual_cost_never_exceeds_the_estimate(text, output, max_tokens, cached):
    """For any prompt whose true token count is at most its UTF-8 length (byte-level BPE),
    any split into cached and uncached tokens, and any output within max_tokens."""
    cfg = Settings(prices=PRICES)
    body = text.encode("utf-8")
    e = estimate(cfg, "m-large", request_bytes=len(body), max_tokens=max_tokens)
    prompt = min(len(body), e.input_tokens)
    read = prompt * cached // 100
    write = (prompt - read) // 2
    usage = Usage(
        input_tokens=prompt - read - write,
        output_tokens=min(output, e.output_tokens),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )
    assert usage_cost(e.price, usage) <= e.amount


def test_costs_round_up_once_per_request():
    p = price_ref("m-large", PRICES["m-large"])
    assert usage_cost(p, Usage(input_tokens=1)) == 3  # 3.0 exactly
    assert usage_cost(p, Usage(cache_read_tokens=1)) == 1  # 0.3 rounds up
    assert usage_cost(p, Usage(cache_read_tokens=10)) == 3
    assert worst_case_cost(p, input_tokens=0, output_tokens=0) == 0


@pytest.mark.parametrize(
    ("text", "micro"),
    [("1", 1_000_000), ("12.5", 12_500_000), ("0.000001", 1), ("1_000", 1_000_000_000)],
)
def test_credits_parse_exactly(text, micro):
    assert parse_credits(text) == micro
    assert parse_credits(format_credits(micro).replace(",", "")) == micro


@pytest.mark.parametrize("text", ["", "-1", "1e3", "0.0000001", "abc", "0", "1.", "nan"])
def test_bad_credit_amounts(text):
    with pytest.raises(LedgerInputError):
        parse_credits(text)


def test_format_credits():
    assert format_credits(12_500_000) == "12.5"
    assert format_credits(-1_000_000_000) == "-1,000"
    assert format_credits(1) == "0.000001"
    assert valid_amount(0, allow_zero=True) == 0
