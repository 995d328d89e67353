"""The venue error taxonomy: one mapping from HTTP answers to error classes, and messages that
name the operation and the venue's reason."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.venues.errors import (
    DEFAULT_RETRY_AFTER_S,
    MAX_MESSAGE_CHARS,
    AmbiguousOutcome,
    AuthError,
    BadResponse,
    DefinitiveReject,
    Geoblocked,
    RateLimited,
    VenueError,
    VenueUnavailable,
    classify_http_error,
    is_duplicate_message,
    parse_retry_after,
)


def classify(status: int, body: object, headers: dict[str, str] | None = None) -> VenueError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return classify_http_error("post_order", status, raw, headers or {})


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, DefinitiveReject),
        (404, DefinitiveReject),
        (409, DefinitiveReject),
        (401, AuthError),
        (403, Geoblocked),
        (425, VenueUnavailable),
        (429, RateLimited),
        (503, VenueUnavailable),
        (500, AmbiguousOutcome),
        (502, AmbiguousOutcome),
        (504, AmbiguousOutcome),
        (408, AmbiguousOutcome),
        (302, AmbiguousOutcome),
    ],
)
def test_each_status_maps_to_one_class(status: int, expected: type[VenueError]) -> None:
    error = classify(status, {"error": "something"})
    assert type(error) is expected
    assert error.status == status


def test_message_names_operation_status_and_reason() -> None:
    error = classify(
        400, {"error": "invalid post-only order: order crosses book", "code": "INVALID_POST_ONLY_ORDER"}
    )
    assert str(error) == "post_order: 400 invalid post-only order: order crosses book"
    assert error.code == "INVALID_POST_ONLY_ORDER"
    assert error.message == "invalid post-only order: order crosses book"
    assert error.operation == "post_order"


@pytest.mark.parametrize("key", ["error", "errorMsg", "error_msg", "message"])
def test_every_error_field_spelling_is_read(key: str) -> None:
    assert classify(400, {key: "not enough balance / allowance"}).message == "not enough balance / allowance"


def test_non_json_and_empty_bodies_still_classify() -> None:
    html = classify(502, b"<html>Bad gateway</html>")
    assert isinstance(html, AmbiguousOutcome)
    assert "Bad gateway" in html.message
    empty = classify(500, b"")
    assert empty.message == "HTTP 500"
    bare = classify(400, "plain string error")
    assert bare.message == "plain string error"


def test_long_messages_are_cut() -> None:
    error = classify(500, b"x" * 10_000)
    assert len(error.message) == MAX_MESSAGE_CHARS


def test_context_canceled_400_is_ambiguous() -> None:
    assert isinstance(classify(400, {"error": "context canceled"}), AmbiguousOutcome)


def test_not_found_is_a_definitive_reject() -> None:
    error = classify(404, {"error": "Order not found"})
    assert isinstance(error, DefinitiveReject)
    assert error.status == 404


def test_rate_limited_reads_retry_after_header_then_body_then_default() -> None:
    from_header = classify(429, {"error": "Too Many Requests"}, {"Retry-After": "3"})
    assert isinstance(from_header, RateLimited)
    assert from_header.retry_after_s == 3.0
    lower_case = classify(429, {"error": "Too Many Requests"}, {"retry-after": "2.5"})
    assert isinstance(lower_case, RateLimited)
    assert lower_case.retry_after_s == 2.5
    from_body = classify(429, {"error": "Too Many Requests", "retry_after_seconds": 4})
    assert isinstance(from_body, RateLimited)
    assert from_body.retry_after_s == 4.0
    default = classify(429, {"error": "Too Many Requests"}, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    assert isinstance(default, RateLimited)
    assert default.retry_after_s == DEFAULT_RETRY_AFTER_S


def test_post_only_mode_503() -> None:
    error = classify(
        503,
        {
            "error": "post-only mode: only post-only orders and cancels are allowed",
            "code": "post_only_mode",
            "retry_after_seconds": 79,
        },
        {"Retry-After": "80"},
    )
    assert isinstance(error, VenueUnavailable)
    assert error.post_only_mode
    assert not error.cancel_only
    assert error.retry_after_s == 79.0  # the body's figure wins over the header's


def test_cancel_only_and_disabled_503() -> None:
    cancel_only = classify(
        503,
        {"error": "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."},
    )
    assert isinstance(cancel_only, VenueUnavailable)
    assert cancel_only.cancel_only
    assert not cancel_only.post_only_mode
    assert cancel_only.retry_after_s is None
    disabled = classify(503, {"error": "Trading is currently disabled. Check polymarket.com for updates"})
    assert isinstance(disabled, VenueUnavailable)
    assert disabled.trading_disabled
    assert not disabled.cancel_only


def test_too_early_425_may_carry_retry_after() -> None:
    error = classify(425, {"error": "Too Early"}, {"Retry-After": "2"})
    assert isinstance(error, VenueUnavailable)
    assert error.retry_after_s == 2.0


def test_details_keep_the_rest_of_the_error_object() -> None:
    error = classify(400, {"error": "Invalid Heartbeat ID", "heartbeat_id": "hb-7"})
    assert error.details["heartbeat_id"] == "hb-7"


def test_duplicate_detection() -> None:
    by_code = classify(400, {"error": "refused", "code": "INVALID_ORDER_DUPLICATED"})
    by_text = classify(400, {"error": "order 0xabc is invalid. Duplicated."})
    other = classify(400, {"error": "order 0xabc is invalid. Size (1) lower than the minimum: 5"})
    assert isinstance(by_code, DefinitiveReject)
    assert isinstance(by_text, DefinitiveReject)
    assert isinstance(other, DefinitiveReject)
    assert by_code.duplicate
    assert by_text.duplicate
    assert not other.duplicate
    assert is_duplicate_message("order 0x1 is invalid. Duplicated.")
    assert not is_duplicate_message("")


def test_bad_response_is_an_ambiguous_outcome() -> None:
    error = BadResponse("book.bids is not a list", operation="get_book")
    assert isinstance(error, AmbiguousOutcome)
    assert str(error) == "get_book: book.bids is not a list"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        (3, 3.0),
        (0, 0.0),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_retry_after(value: object, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599).filter(lambda s: not 200 <= s < 300),
    body=st.binary(max_size=200)
    | st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=10,
    ).map(orjson.dumps),
    retry_after=st.text(max_size=10),
)
def test_classification_never_raises(status: int, body: bytes, retry_after: str) -> None:
    error = classify_http_error("op", status, body, {"Retry-After": retry_after})
    assert isinstance(error, VenueError)
    assert str(error).startswith(f"op: {status} ")
