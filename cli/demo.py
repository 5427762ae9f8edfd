"""`flightsaga demo`: the original system's five scenarios against the running stack.

success (4 steps, no compensation), then a failure at each step: 0, 1, 2, 3 compensations in
reverse order. Prints a summary table and writes a JSON test report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cli.common import EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_USAGE, Command, Subparsers, day
from cli.remote import on_stack
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient, booking
from sagas.booking import STEP_ORDER


def add_commands(sub: Subparsers) -> dict[str, Command]:
    dm = sub.add_parser("demo", help="run the original five scenarios and report")
    dm.add_argument("--from", dest="origin", default="JFK")
    dm.add_argument("--to", dest="destination", default="LAX")
    dm.add_argument("--date", type=day, default="tomorrow", help="YYYY-MM-DD, tomorrow or +N")
    dm.add_argument("--report", default="data/demo-report.json", help="JSON report path")
    return {"demo": on_stack(demo)}


async def demo(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    found = await fs.search_flights(a.origin, a.destination, a.date)
    if not found.outbound:
        print("No flights found for the demo route", file=sys.stderr)
        return EXIT_USAGE
    results = await run_demo(fs, found.outbound[0].flight_id)
    print(table(results))
    write_report(results, Path(a.report), fs.addr)
    print(f"report written to {a.report}")
    return EXIT_OK if all(r.passed for r in results) else EXIT_NOT_CONFIRMED


@dataclass
class ScenarioResult:
    name: str
    fail_at: str
    expected_status: str
    status: str
    expected_compensations: list[str]
    compensations: list[str]
    booking_reference: str
    correlation_id: str
    saga_id: str
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            self.status == self.expected_status
            and self.compensations == self.expected_compensations
        )


async def run_demo(
    client: OrchestratorClient, flight_id: str, customer: str = "LOY-1001"
) -> list[ScenarioResult]:
    scenarios: list[tuple[str, str, str, list[str]]] = [("success", "", "COMPLETED", [])] + [
        (f"fail at step {i + 1} ({step})", step, "COMPENSATED", list(reversed(STEP_ORDER[:i])))
        for i, step in enumerate(STEP_ORDER)
    ]
    results = []
    for name, fail_at, expected, comps in scenarios:
        started = time.perf_counter()
        saga = await client.book(
            booking([flight_id], customer_id=customer, points=500),
            fail_at=[fail_at] if fail_at else [],
        )
        results.append(
            ScenarioResult(
                name=name,
                fail_at=fail_at,
                expected_status=expected,
                status=pb.SagaStatus.Name(saga.status),
                expected_compensations=comps,
                compensations=list(saga.compensation_order),
                booking_reference=saga.booking_reference,
                correlation_id=saga.correlation_id,
                saga_id=saga.saga_id,
                seconds=round(time.perf_counter() - started, 3),
            )
        )
    return results


def table(results: list[ScenarioResult]) -> str:
    head = f"{'scenario':<40} {'status':<12} {'compensations':<58} {'ref':<7} result"
    rows = [head, "-" * len(head)]
    for r in results:
        comps = " -> ".join(r.compensations) or "none"
        rows.append(
            f"{r.name:<40} {r.status:<12} {comps:<58} {r.booking_reference or '-':<7} "
            f"{'PASS' if r.passed else 'FAIL'}"
        )
    rows.append("")
    rows.append(summary(results))
    return "\n".join(rows)


EXPECTED = (
    "checked: with no failure the booking is confirmed and nothing is undone; with a failure "
    "injected at step N,\nthe saga is COMPENSATED and steps N-1 ... 1 are undone, last first"
)


def summary(results: list[ScenarioResult]) -> str:
    """What the demo checked and how many scenarios matched it, in plain words."""
    passed = sum(r.passed for r in results)
    if passed == len(results):
        verdict = f"all {len(results)} scenarios ended as expected"
    else:
        verdict = (
            f"{passed} of {len(results)} scenarios ended as expected; "
            "the FAIL rows ended otherwise (status or compensations)"
        )
    return f"{EXPECTED}\n{verdict}"


def write_report(results: list[ScenarioResult], path: Path, orchestrator: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "orchestrator": orchestrator,
        "passed": sum(r.passed for r in results),
        "total": len(results),
        "scenarios": [{**asdict(r), "passed": r.passed} for r in results],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
