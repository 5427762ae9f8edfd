"""`flightsaga flights` (search the schedule) and `flightsaga book` (run a booking saga)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import UTC, datetime

from cli import render
from cli.common import EXIT_NOT_CONFIRMED, EXIT_OK, Command, Subparsers, day
from cli.remote import on_stack
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import CABINS, OrchestratorClient, booking
from sagakit.errors import InvalidArgument
from sagas.booking import rules as booking_rules


def add_commands(sub: Subparsers) -> dict[str, Command]:
    fl = sub.add_parser("flights", help="search the schedule")
    fl.add_argument("origin")
    fl.add_argument("destination")
    fl.add_argument("date", type=day, help="YYYY-MM-DD, today, tomorrow or +N (days ahead)")
    fl.add_argument(
        "--return", dest="return_date", type=day, default="", help="a date like DATE: round trip"
    )
    fl.add_argument("--class", dest="cabin", default="economy", choices=sorted(CABINS))
    fl.add_argument("--passengers", type=int, default=1)
    fl.add_argument("--json", action="store_true")
    fl.add_argument(
        "--ids",
        action="store_true",
        help="print only the ids of the flights still to leave, one a line (for scripts)",
    )
    _book_arguments(sub.add_parser("book", help="book flights (runs the saga)"))
    return {"flights": on_stack(flights), "book": on_stack(book)}


def _passenger(text: str) -> tuple[str, str]:
    first, _, last = text.strip().partition(" ")
    if not first or not last:
        raise argparse.ArgumentTypeError(f"passenger must be 'First Last', got {text!r}")
    return first, last.strip()


def _expiry(text: str) -> tuple[int, int]:
    month, sep, year = text.partition("/")
    if not sep or not month.isdigit() or not year.isdigit():
        raise argparse.ArgumentTypeError(f"expiry must be MM/YYYY, got {text!r}")
    return int(month), int(year) if len(year) == 4 else 2000 + int(year)


def _book_arguments(bk: argparse.ArgumentParser) -> None:
    bk.add_argument("--flight", action="append", default=[], help="flight id; repeat per leg")
    bk.add_argument("--from", dest="origin", help="or search: origin airport")
    bk.add_argument("--to", dest="destination", help="destination airport")
    bk.add_argument(
        "--date", type=day, help="outbound date: YYYY-MM-DD, today, tomorrow or +N (days ahead)"
    )
    bk.add_argument(
        "--return", dest="return_date", type=day, default="", help="return date: round trip"
    )
    bk.add_argument(
        "--passenger",
        action="append",
        type=_passenger,
        default=[],
        help="'First Last'; repeat per passenger (default: Ada Lovelace)",
    )
    bk.add_argument("--class", dest="cabin", default="economy", choices=sorted(CABINS))
    bk.add_argument("--customer", default="LOY-1001", help="loyalty account id")
    bk.add_argument(
        "--points", type=int, default=0, help="loyalty points to use (1 point = 1 cent)"
    )
    bk.add_argument(
        "--card",
        default="4242424242424242",
        help="card number (test cards: docs/api.md#payment-test-cards)",
    )
    bk.add_argument("--expiry", type=_expiry, default=(12, 2030), help="MM/YYYY")
    bk.add_argument("--cvc", default="123")
    bk.add_argument(
        "--fail-at",
        action="append",
        default=[],
        metavar="STEP",
        help="inject a business failure at STEP (repeatable)",
    )
    bk.add_argument(
        "--fault", default="", metavar="SPEC", help="x-fault spec, e.g. payment:transient=2"
    )
    bk.add_argument("--correlation-id")
    bk.add_argument("--idempotency-key")
    bk.add_argument("--json", action="store_true", help="print the saga as JSON")


async def flights(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    found = await fs.search_flights(
        a.origin, a.destination, a.date, a.return_date, a.cabin, a.passengers
    )
    if a.json:
        print(render.as_json(found))
    elif a.ids:
        now = datetime.now(UTC)
        for leg in [*found.outbound, *found.inbound]:
            if leg.departure.ToDatetime(UTC) > now:
                print(leg.flight_id)
    elif not found.outbound:
        print("No flights found")
    else:
        for title, legs in (("outbound", found.outbound), ("return", found.inbound)):
            if legs:
                print(title)
            for leg in legs:
                print(render.leg_text(leg))
        print("(times are local to each airport)")
    return EXIT_OK


async def _first_flights(fs: OrchestratorClient, a: argparse.Namespace) -> list[str]:
    """The first flight of the day each way, for `book --from --to --date`; [] if none."""
    if not (a.origin and a.destination and a.date):
        raise ValueError("give --flight ID (per leg) or --from, --to and --date")
    found = await fs.search_flights(a.origin, a.destination, a.date, a.return_date, a.cabin)
    if not found.outbound or (a.return_date and not found.inbound):
        return []
    # The first that has not left (a departed flight cannot be booked: if all have, the
    # first, and the orchestrator says it departed).
    now = datetime.now(UTC)
    outbound, inbound = (
        [leg for leg in legs if leg.departure.ToDatetime(UTC) > now] or list(legs)
        for legs in (found.outbound, found.inbound)
    )
    legs = [outbound[0]] + ([inbound[0]] if a.return_date else [])
    if not a.json:
        for leg, choices in zip(legs, (outbound, inbound), strict=False):
            print(
                f"booking {render.flight_text(leg)}\n"
                f"  (the first of {len(choices)} that day; --flight ID books another)",
                flush=True,
            )
    return [leg.flight_id for leg in legs]


async def book(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    flight_ids = list(a.flight) or await _first_flights(fs, a)
    if not flight_ids:
        print("No flights found", file=sys.stderr)
        return EXIT_NOT_CONFIRMED
    request = booking(
        flight_ids,
        passengers=a.passenger or [("Ada", "Lovelace")],
        cabin=a.cabin,
        customer_id=a.customer,
        points=a.points,
        card_number=a.card,
        card_expiry=a.expiry,
        card_cvc=a.cvc,
    )
    # The orchestrator's rules, checked here first: a bad card or seat choice is a usage
    # error (exit 2) naming the field, with nothing sent.
    try:
        booking_rules.check(request)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None
    # StartBooking answers at once with the saga; WatchSaga follows it to its end (or the
    # deadline: then it is shown as it stands, and goes on in the orchestrator).
    started = await fs.start(
        request,
        request_id=a.idempotency_key,
        fail_at=a.fail_at,
        fault=a.fault,
        correlation_id=a.correlation_id,
    )
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(a.timeout):
            async for _ in fs.watch(started.saga_id):
                pass
    saga = await fs.get(started.saga_id)
    saga.replayed = started.replayed
    print(render.as_json(saga) if a.json else render.saga_text(saga))
    return EXIT_OK if saga.status == pb.COMPLETED else EXIT_NOT_CONFIRMED
