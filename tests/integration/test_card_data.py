"""Card data at rest: no card number (but its last four digits) and no CVC in any database,
log or bookings file; the orchestrator keeps the payment service's token, and retries and
recovery charge through it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import common_pb2, payment_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight, proof
from tests.support.stack import Stack, running_stack

NUMBER = "4242424242424242"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as s:
        yield s


async def test_no_card_number_or_cvc_is_kept_anywhere(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    flight = await first_flight(stack)
    done = await stack.orchestrator.BookFlight(book_request([flight]), timeout=30)
    undone = await stack.orchestrator.BookFlight(
        book_request([flight]), metadata=(("x-fail-at", "booking"),), timeout=30
    )
    # Lost replies and retries charge through the token too.
    retried = await stack.orchestrator.BookFlight(
        book_request([flight]), metadata=(("x-fault", "payment:lost-reply=2"),), timeout=30
    )
    assert [pb.SagaStatus.Name(s.status) for s in (done, undone, retried)] == [
        "COMPLETED",
        "COMPENSATED",
        "COMPLETED",
    ]
    p = await proof(stack, undone.saga_id)
    assert p.charged_cents == p.refunded_cents > 0

    files, holders = holding(tmp_path, NUMBER.encode())
    assert "orchestrator.db" in files and "payment_service.db" in files
    assert holders == [], f"the full card number is in {holders}"
    assert NUMBER not in caplog.text

    conn = sqlite3.connect(tmp_path / "orchestrator.db")
    payloads = [bytes(r[0]) for r in conn.execute("SELECT payload FROM sagas")]
    conn.close()
    assert len(payloads) == 3
    for raw in payloads:
        card = pb.BookFlightRequest.FromString(raw).card
        assert card.number == "****4242" and card.cvc == "" and card.token.startswith("tok_")


def holding(root: Path, needle: bytes) -> tuple[list[str], list[str]]:
    """Every file under root (databases, their WAL, logs, the bookings log), and those that
    contain `needle`."""
    files = [f for f in root.rglob("*") if f.is_file()]
    return [f.name for f in files], [f.name for f in files if needle in f.read_bytes()]


async def test_tokens_only_from_tokenize_and_bad_cards_are_named(stack: Stack) -> None:
    bad = common_pb2.Card(
        number="4242424242424241", exp_month=12, exp_year=2031, cvc="123", holder_name="A B"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.payment.Tokenize(payment_pb2.TokenizeRequest(card=bad), timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("card.number")
    forged = payment_pb2.ChargeRequest(
        saga_id="forged-1", amount_cents=100, card=common_pb2.Card(token="tok_" + "0" * 32)
    )
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stack.payment.Do(forged, timeout=5)
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (unknown.value.details() or "").startswith("card.token")


async def test_a_replay_with_the_same_card_is_the_same_booking(stack: Stack) -> None:
    """Each call tokenises anew (a new token), yet the same key and booking is a replay."""
    flight = await first_flight(stack)
    md = (("x-idempotency-key", "card-replay"),)
    first = await stack.orchestrator.BookFlight(book_request([flight]), metadata=md, timeout=30)
    again = await stack.orchestrator.BookFlight(book_request([flight]), metadata=md, timeout=30)
    assert again.replayed and again.saga_id == first.saga_id
