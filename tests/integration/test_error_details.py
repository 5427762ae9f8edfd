"""Typed errors: every refusal carries google.rpc.Status details (ErrorInfo with a stable
reason in the domain "flightsaga"; BadRequest naming the field for bad input), read through
the same helper the CLI, the Python client and the dashboard use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from flightsaga.v1 import loyalty_pb2, payment_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import ErrorDetails, Reason, error_details
from tests.support.booking import book_request, first_flight
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as s:
        yield s


async def refusal(call: Any) -> tuple[grpc.StatusCode, ErrorDetails]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    details = error_details(info.value)
    assert details.domain == "flightsaga", info.value.details()
    # The correlation id is still echoed beside the details.
    assert any(k == "x-correlation-id" for k, _ in info.value.trailing_metadata() or ())
    return info.value.code(), details


async def test_bad_input_names_its_fields_in_bad_request(stack: Stack) -> None:
    flight = await first_flight(stack)
    request = book_request([flight], passengers=0)
    code, details = await refusal(stack.orchestrator.BookFlight(request, timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == Reason.INVALID_ARGUMENT
    assert details.field == "passengers", details


async def test_business_refusals_have_stable_reasons(stack: Stack) -> None:
    card = book_request(["X"], card="4000000000009995").card
    code, details = await refusal(
        stack.payment.Do(payment_pb2.ChargeRequest(saga_id="s1", amount_cents=100, card=card))
    )
    assert (code, details.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_FUNDS")
    assert details.metadata["decline_reason"] == "insufficient_funds"

    card = book_request(["X"], card="4000000000000002").card
    _, details = await refusal(
        stack.payment.Do(payment_pb2.ChargeRequest(saga_id="s2", amount_cents=100, card=card))
    )
    assert details.reason == "CARD_DECLINED"

    _, details = await refusal(
        stack.loyalty.Do(
            loyalty_pb2.DeductPointsRequest(saga_id="s3", account_id="LOY-1001", points=10**9)
        )
    )
    assert details.reason == "INSUFFICIENT_POINTS"

    # A Do arriving after its Compensate (the barrier's late request).
    await stack.loyalty.Compensate(loyalty_pb2.RefundPointsRequest(saga_id="s4"))
    code, details = await refusal(
        stack.loyalty.Do(
            loyalty_pb2.DeductPointsRequest(saga_id="s4", account_id="LOY-1001", points=10)
        )
    )
    assert (code, details.reason) == (grpc.StatusCode.ABORTED, "LATE_DO_REFUSED")


async def test_injected_faults_say_so(stack: Stack) -> None:
    code, details = await refusal(
        stack.loyalty.Do(
            loyalty_pb2.DeductPointsRequest(saga_id="s5", account_id="LOY-1001", points=10),
            metadata=(("x-fault", "do:unavailable"),),
        )
    )
    assert (code, details.reason) == (grpc.StatusCode.UNAVAILABLE, "FAULT_INJECTED")
    assert details.metadata == {"kind": "unavailable", "step": "deduct_loyalty_points"}


async def test_fault_injection_disabled_and_key_reuse(tmp_path: Path) -> None:
    async with running_stack(tmp_path, fault_injection=False) as stack:
        flight = await first_flight(stack)
        code, details = await refusal(
            stack.orchestrator.BookFlight(
                book_request([flight]), metadata=(("x-fail-at", "payment"),), timeout=5
            )
        )
        assert (code, details.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "FAULT_INJECTION_DISABLED",
        )
        key = (("x-idempotency-key", "k-1"),)
        await stack.orchestrator.BookFlight(book_request([flight]), metadata=key, timeout=10)
        code, details = await refusal(
            stack.orchestrator.BookFlight(
                book_request([flight], points=7), metadata=key, timeout=10
            )
        )
        assert (code, details.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")
        _, details = await refusal(
            stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id="f" * 32), timeout=5)
        )
        assert details.reason == "NOT_FOUND"
