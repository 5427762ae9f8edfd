"""Containers dying under the stack: the orchestrator SIGKILLed with sagas in flight, and a
participant stopped mid-saga. Every saga must still end COMPLETED or COMPENSATED, and the
participants' own records must agree with how it ended."""

from __future__ import annotations

import asyncio
from collections import Counter

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas, stackctl
from tests.compose.stackctl import Clients

# (x-fault, the ending it forces or None when either ending is legal). Delays stay under the
# orchestrator's step deadline (3 s), so they only keep the sagas in flight at the kill.
MIX: list[tuple[str, str | None]] = [
    ("loyalty:delay=1500", None),
    ("payment:delay=1500,booking:fail", "COMPENSATED"),
    ("seat:delay=1500,payment:fail", "COMPENSATED"),
    ("booking:delay=1500", None),
    ("loyalty:delay=1000,payment:delay=1000", None),
]
IN_FLIGHT = 20


async def test_orchestrator_sigkilled_with_sagas_in_flight_finishes_them_all(
    clients: Clients,
) -> None:
    flight = await sagas.roomiest_flight(clients)
    plan = [MIX[i % len(MIX)] for i in range(IN_FLIGHT)]
    replies = await asyncio.gather(
        *(
            sagas.start(clients, sagas.book_request(flight, f"kill{i}"), fault, wait=1.0)
            for i, (fault, _) in enumerate(plan)
        )
    )
    live = [r for r in replies if r.status not in sagas.TERMINAL]
    await stackctl.docker_kill("orchestrator")
    assert len(live) >= IN_FLIGHT // 2, (
        f"only {len(live)} of {IN_FLIGHT} sagas were in flight at the kill: "
        f"{Counter(sagas.status(r) for r in replies)}"
    )
    assert (await stackctl.container_state("orchestrator")).startswith("exited")

    await stackctl.compose("start", "orchestrator")
    await stackctl.wait_serving(["orchestrator"], timeout=60)

    finals = await asyncio.gather(*(sagas.wait_terminal(clients, r.saga_id) for r in replies))
    endings = Counter(sagas.status(s) for s in finals)
    for saga, (fault, forced) in zip(finals, plan, strict=True):
        assert saga.fault_plan, f"{saga.saga_id}: the fault plan {fault!r} was not persisted"
        if forced is not None:
            assert sagas.status(saga) == forced, f"{fault}: {sagas.status(saga)} {saga.error}"
        await sagas.assert_records_agree(clients, saga)
    assert endings["FAILED"] == 0, endings
    await stackctl.wait_healthy(["orchestrator"], timeout=60)


async def test_participant_stopped_mid_saga_then_back_completes_or_compensates(
    clients: Clients,
) -> None:
    flight = await sagas.roomiest_flight(clients)
    # The sagas are held at the loyalty step while the payment container goes away.
    replies = await asyncio.gather(
        *(
            sagas.start(clients, sagas.book_request(flight, f"stop{i}"), "loyalty:delay=2500", 0.8)
            for i in range(4)
        )
    )
    assert all(r.status == pb.RUNNING for r in replies), [sagas.status(r) for r in replies]
    await stackctl.compose("stop", "-t", "5", "payment")
    try:
        assert (await stackctl.container_state("payment")).startswith("exited")
        await asyncio.sleep(4)  # the payment calls fail (UNAVAILABLE) and are retried meanwhile
    finally:
        await stackctl.compose("start", "payment")
    await stackctl.wait_serving(["payment"], timeout=60)

    for reply in replies:
        saga = await sagas.wait_terminal(clients, reply.saga_id)
        # A participant down for seconds is retried through, never handed to an operator.
        assert sagas.status(saga) in ("COMPLETED", "COMPENSATED"), saga.error
        await sagas.assert_records_agree(clients, saga)
        payment = next(s for s in saga.steps if s.name == "process_payment")
        if saga.status == pb.COMPENSATED:
            # Down past the step's retry budget: given up and compensated (the charge may have
            # happened: compensated too).
            assert payment.attempts >= 2, payment
            assert "UNAVAILABLE" in payment.error or "DEADLINE" in payment.error, payment
            assert "process_payment" in saga.compensation_order
    outcomes = [sagas.status(await sagas.wait_terminal(clients, r.saga_id)) for r in replies]
    print(f"payment stopped mid-saga: outcomes {outcomes}")
    await stackctl.wait_healthy(["payment"], timeout=60)
