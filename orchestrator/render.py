"""Human-readable views of sagas, events and stats for the CLI."""

from __future__ import annotations

from flightsaga.v1 import orchestrator_pb2 as pb

STATE_MARK = {
    "SUCCEEDED": "ok",
    "STEP_FAILED": "FAILED",
    "UNKNOWN_OUTCOME": "UNKNOWN",
    "COMPENSATED_STEP": "compensated",
    "COMPENSATION_FAILED": "COMPENSATION FAILED",
    "SKIPPED": "skipped",
    "PENDING": "pending",
    "EXECUTING": "executing",
    "COMPENSATING_STEP": "compensating",
}


def money(cents: int, currency: str = "USD") -> str:
    return f"{cents / 100:,.2f} {currency or 'USD'}"


def saga_text(saga: pb.Saga) -> str:
    status = pb.SagaStatus.Name(saga.status)
    lines = [
        f"saga {saga.saga_id}  {status}",
        f"correlation id {saga.correlation_id}"
        + (f"  (replayed for idempotency key {saga.idempotency_key})" if saga.replayed else ""),
    ]
    if saga.fault_plan:
        lines.append(f"faults  {saga.fault_plan}")
    lines.append("")
    lines.append(f"  {'#':<2} {'step':<23} {'state':<20} {'tries':>5} {'ms':>6}  detail")
    for st in saga.steps:
        state = pb.StepState.Name(st.state)
        detail = st.error or ""
        if state == "SUCCEEDED" or (st.result and not detail):
            fields = dict(st.result.items()) if st.result else {}
            keep = ("booking_reference", "transaction_id", "points_deducted", "fare_cents")
            detail = " ".join(
                f"{k}={fields[k]:g}" if isinstance(fields[k], float) else f"{k}={fields[k]}"
                for k in keep
                if k in fields
            )
        tries = str(st.attempts) + (
            f"+{st.compensation_attempts}c" if st.compensation_attempts else ""
        )
        lines.append(
            f"  {st.index:<2} {st.name:<23} {STATE_MARK.get(state, state):<20} {tries:>5} "
            f"{st.duration_ms:>6}  {detail}"
        )
    if saga.compensation_order:
        lines.append("")
        lines.append("compensations (in order): " + " -> ".join(saga.compensation_order))
    lines.append("")
    if status == "COMPLETED":
        lines.append(f"BOOKING CONFIRMED  reference {saga.booking_reference}")
        lines.append(
            f"fare {money(saga.fare_cents, saga.currency)}, charged "
            f"{money(saga.amount_charged_cents, saga.currency)} ({saga.transaction_id})"
        )
    elif status in ("RUNNING", "COMPENSATING"):
        lines.append(f"still {status.lower()}: `flightsaga watch {saga.saga_id}` to follow it")
    else:
        lines.append(f"BOOKING NOT CONFIRMED: {saga.error}")
        if status == "FAILED":
            lines.append(f"needs an operator: `flightsaga resume {saga.saga_id} --clear-faults`")
    return "\n".join(lines)


def event_text(e: pb.SagaEvent) -> str:
    at = e.at.ToDatetime().strftime("%H:%M:%S.%f")[:-3]
    kind = pb.SagaEventType.Name(e.type).removesuffix("_EVENT")
    step = f" {e.step}" if e.step else ""
    attempt = f" #{e.attempt}" if e.attempt else ""
    msg = f"  {e.message}" if e.message else ""
    return f"{at} {e.seq:>3} {kind:<24}{step}{attempt}{msg}"


def saga_row(s: pb.Saga) -> str:
    created = s.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{s.saga_id}  {pb.SagaStatus.Name(s.status):<12} {created}  "
        f"{s.booking_reference or '-':<7} {' '.join(s.request.flight_ids)}"
    )


def stats_text(st: pb.Stats) -> str:
    return "\n".join(
        [
            f"sagas      total {st.total}: running {st.running}, compensating {st.compensating}, "
            f"completed {st.completed}, compensated {st.compensated}, failed {st.failed}",
            f"steps      pending {st.steps_pending}, executing {st.steps_executing}, "
            f"completed {st.steps_completed}, failed {st.steps_failed}",
            f"compensations pending {st.compensations_pending}, "
            f"completed {st.compensations_completed}",
        ]
    )
