"""`flightsaga`: book flights and break them on purpose, from the terminal.

    flightsaga up                                     run the whole system locally
    flightsaga flights JFK LAX 2026-12-01 [--return 2026-12-08]
    flightsaga book --from JFK --to LAX --date 2026-12-01 [--fail-at payment] [--json]
    flightsaga book --flight FS101-20261201 --passenger "Ada Lovelace" --points 1000
    flightsaga get|watch|resume SAGA_ID|latest
    flightsaga list [--status failed]     flightsaga stats
    flightsaga demo                                   the original five scenarios
    flightsaga chaos [--sagas N] [--seed S] [--target ADDR] [--code DIR]   chaos campaign
    flightsaga certs DIR                              a dev CA + a certificate per service (TLS)
    flightsaga token NAME ROLES                       a new API token and its AUTH_TOKENS_FILE line

With auth on, every call sends --token (default $FLIGHTSAGA_TOKEN); with TLS, the channel uses
TLS_CA_FILE (and TLS_CERT_FILE / TLS_KEY_FILE as the client certificate), README "Security".

Exit status:
  0  done: `book` confirmed the booking; `resume` finished the saga (COMPLETED, or COMPENSATED:
     every step undone, nothing left for an operator); `demo`: every scenario as expected;
     `flights`, `get`, `watch`, `list`, `stats` answered (whatever the saga's state)
  1  not done: `book` did not confirm the booking (compensated or failed); `resume` left the
     saga FAILED or still running; a `demo` scenario ended otherwise than expected
  2  bad usage or bad input (e.g. an unknown saga id)
  3  the stack is unreachable
  4  refused: no or a bad token (UNAUTHENTICATED), or a role that may not do it
     (PERMISSION_DENIED)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from google.protobuf.message import Message

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator import booking_rules, demo, render
from orchestrator.client import CABINS, OrchestratorClient, Unreachable, booking
from sagakit.config import ConfigError
from sagakit.errors import InvalidArgument, Reason, details_of
from sagakit.plainjson import plain

EXIT_OK, EXIT_NOT_CONFIRMED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 0, 1, 2, 3, 4
# Refusals that mean the command itself was wrong (exit 2), by ErrorInfo reason.
USAGE_REASONS = frozenset(
    {
        Reason.INVALID_ARGUMENT,
        Reason.NOT_FOUND,
        Reason.FAULT_INJECTION_DISABLED,
        Reason.SAGA_NOT_RESUMABLE,
        Reason.REJECTED,
    }
)


def as_json(message: Message) -> str:
    """--json: every number a number (sagakit.plainjson), like the bookings log."""
    return json.dumps(plain(message), indent=2)


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flightsaga",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("Exit status:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--orchestrator", help="address host:port (default: $ORCHESTRATOR_ADDR or 127.0.0.1:50050)"
    )
    p.add_argument("--seat", help="seat service host:port for flight search ($SEAT_SERVICE_ADDR)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline per call in seconds")
    p.add_argument(
        "--token",
        help="API token sent as 'authorization: Bearer' (default: $FLIGHTSAGA_TOKEN); needed "
        "when the orchestrator runs with AUTH_TOKENS_FILE",
    )
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run every service locally until Ctrl-C")
    up.add_argument("--data-dir", default="data", help="folder for the SQLite files (./data)")
    ports = up.add_mutually_exclusive_group()
    ports.add_argument(
        "--base-port",
        type=int,
        default=50050,
        help="orchestrator port; +1..+4 for the participants",
    )
    ports.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports (printed, with the commands to reach them) instead of 50050-50054"
        " and 8080: beside another stack",
    )
    up.add_argument(
        "--dashboard-port", type=int, help="(default 8080; any free one with --free-ports)"
    )
    up.add_argument("--no-dashboard", action="store_true")
    up.add_argument(
        "--log-dir", help="also write each service's log to DIR/<service>.log (DATA_DIR/logs)"
    )
    up.add_argument(
        "--database",
        metavar="URL",
        help="run every service on this PostgreSQL server (postgresql://user:pass@host:port/NAME)"
        ", each in a database NAME_<service>, created if missing; default: SQLite files",
    )

    fl = sub.add_parser("flights", help="search the schedule")
    fl.add_argument("origin")
    fl.add_argument("destination")
    fl.add_argument("date", help="YYYY-MM-DD")
    fl.add_argument("--return", dest="return_date", default="", help="YYYY-MM-DD: round trip")
    fl.add_argument("--class", dest="cabin", default="economy", choices=sorted(CABINS))
    fl.add_argument("--passengers", type=int, default=1)
    fl.add_argument("--json", action="store_true")

    bk = sub.add_parser("book", help="book flights (runs the saga)")
    bk.add_argument("--flight", action="append", default=[], help="flight id; repeat per leg")
    bk.add_argument("--from", dest="origin", help="or search: origin airport")
    bk.add_argument("--to", dest="destination", help="destination airport")
    bk.add_argument("--date", help="outbound date YYYY-MM-DD")
    bk.add_argument("--return", dest="return_date", default="", help="return date: round trip")
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
    bk.add_argument("--card", default="4242424242424242", help="card number (test cards in README)")
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

    for name, text in (("get", "show one saga"), ("watch", "follow a saga's events live")):
        c = sub.add_parser(name, help=text)
        c.add_argument("saga_id", help="a saga id, or `latest`")
        c.add_argument("--json", action="store_true")
    rs = sub.add_parser("resume", help="operator retry of a FAILED saga")
    rs.add_argument("saga_id", help="a saga id, or `latest`")
    rs.add_argument("--clear-faults", action="store_true", help="drop the injected faults first")
    rs.add_argument("--json", action="store_true")
    ls = sub.add_parser("list", help="recent sagas")
    ls.add_argument(
        "--status",
        default="",
        choices=["", "running", "compensating", "completed", "compensated", "failed"],
    )
    ls.add_argument("--page-size", type=int, default=20)
    ls.add_argument("--page-token", default="")
    ls.add_argument("--json", action="store_true")
    st = sub.add_parser("stats", help="counts by saga and step state")
    st.add_argument("--json", action="store_true")
    dm = sub.add_parser("demo", help="run the original five scenarios and report")
    dm.add_argument("--from", dest="origin", default="JFK")
    dm.add_argument("--to", dest="destination", default="LAX")
    dm.add_argument("--date", default="2026-12-01")
    dm.add_argument("--report", default="data/demo-report.json", help="JSON report path")
    ch = sub.add_parser(
        "chaos",
        help="kill, stop and fault the services under load, then check every invariant",
        description="A seeded, bounded chaos campaign (README: Chaos campaign). Exit status: "
        "0 every invariant holds, 1 violations, 2 bad usage, 3 the campaign could not run.",
    )
    from chaos.cli import add_arguments

    add_arguments(ch)
    ce = sub.add_parser(
        "certs",
        help="make a local CA and a certificate per service (development, tests, compose)",
        description="Writes DIR/ca.pem and, per name, DIR/NAME.pem + DIR/NAME-key.pem (common "
        "name = NAME; SANs: NAME, localhost, 127.0.0.1 and --host). An existing DIR/ca.pem + "
        "ca-key.pem is reused. Dev only: production certificates come from your own CA.",
    )
    ce.add_argument("dir", help="output folder (created)")
    ce.add_argument(
        "--name",
        action="append",
        default=[],
        help="certificate name (repeatable); default: every service, dashboard and client",
    )
    ce.add_argument("--host", action="append", default=[], help="extra SAN, DNS name or IP")
    tk = sub.add_parser(
        "token",
        help="make a random API token; prints it and the line for AUTH_TOKENS_FILE",
        description="Prints the token (give it to the caller as FLIGHTSAGA_TOKEN) and the line "
        "to append to AUTH_TOKENS_FILE (only a SHA-256 of the token is stored there).",
    )
    tk.add_argument("name", help="the caller's name (saga owner, log lines)")
    tk.add_argument("roles", help="comma-separated: booker, reader, operator")
    return p


async def _book(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    flights = list(a.flight)
    if not flights:
        if not (a.origin and a.destination and a.date):
            print("error: give --flight ID (per leg) or --from, --to and --date", file=sys.stderr)
            return EXIT_USAGE
        found = await fs.search_flights(a.origin, a.destination, a.date, a.return_date, a.cabin)
        if not found.outbound or (a.return_date and not found.inbound):
            print("No flights found", file=sys.stderr)
            return EXIT_NOT_CONFIRMED
        legs = [found.outbound[0]] + ([found.inbound[0]] if a.return_date else [])
        flights = [leg.flight_id for leg in legs]
        if not a.json:
            for leg, choices in zip(legs, (found.outbound, found.inbound), strict=False):
                print(
                    f"booking {render.flight_text(leg)}\n"
                    f"  (the first of {len(choices)} that day; --flight ID books another)",
                    flush=True,
                )
    request = booking(
        flights,
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
    print(as_json(saga) if a.json else render.saga_text(saga))
    return EXIT_OK if saga.status == pb.COMPLETED else EXIT_NOT_CONFIRMED


async def _saga_id(fs: OrchestratorClient, given: str) -> str:
    """`latest` stands for the newest saga, so examples need no copy-paste of ids."""
    if given != "latest":
        return given
    page = await fs.list(page_size=1)
    if not page.sagas:
        raise ValueError("there are no sagas yet")
    return page.sagas[0].saga_id


async def _run(a: argparse.Namespace) -> int:
    async with OrchestratorClient(a.orchestrator, a.seat, a.timeout, token=a.token) as fs:
        if hasattr(a, "saga_id"):
            a.saga_id = await _saga_id(fs, a.saga_id)
        if a.command == "book":
            return await _book(fs, a)
        if a.command == "flights":
            found = await fs.search_flights(
                a.origin, a.destination, a.date, a.return_date, a.cabin, a.passengers
            )
            if a.json:
                print(as_json(found))
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
        if a.command == "get":
            saga = await fs.get(a.saga_id)
            print(as_json(saga) if a.json else render.saga_text(saga))
            return EXIT_OK
        if a.command == "watch":
            async for event in fs.watch(a.saga_id):
                print(as_json(event) if a.json else render.event_text(event), flush=True)
            return EXIT_OK
        if a.command == "resume":
            saga = await fs.resume(a.saga_id, a.clear_faults)
            print(as_json(saga) if a.json else render.saga_text(saga, resumed=True))
            return EXIT_OK if saga.status in (pb.COMPLETED, pb.COMPENSATED) else EXIT_NOT_CONFIRMED
        if a.command == "list":
            page = await fs.list(a.status, a.page_size, a.page_token)
            print(as_json(page) if a.json else render.list_text(page, a.status, a.page_token))
            return EXIT_OK
        if a.command == "stats":
            stats = await fs.stats()
            print(as_json(stats) if a.json else render.stats_text(stats))
            return EXIT_OK
        if a.command == "demo":
            found = await fs.search_flights(a.origin, a.destination, a.date)
            if not found.outbound:
                print("No flights found for the demo route", file=sys.stderr)
                return EXIT_USAGE
            results = await demo.run_demo(fs, found.outbound[0].flight_id)
            print(demo.table(results))
            demo.write_report(results, Path(a.report), fs.addr)
            print(f"report written to {a.report}")
            return EXIT_OK if all(r.passed for r in results) else EXIT_NOT_CONFIRMED
    raise AssertionError(a.command)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "up":
        from launcher.supervisor import SERVICE_MODULES, Launcher
        from tooling.pgdatabases import ensure_databases

        try:
            databases = ensure_databases(args.database, SERVICE_MODULES) if args.database else None
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        base_port, dashboard_port = args.base_port, args.dashboard_port or 8080
        if args.free_ports:
            from launcher.supervisor import free_base_port, free_port

            base_port = free_base_port()
            dashboard_port = args.dashboard_port or free_port(range(base_port, base_port + 5))
            print(
                f"--free-ports: orchestrator on 127.0.0.1:{base_port}, participants on "
                f"{base_port + 1}-{base_port + 4}, dashboard on 127.0.0.1:{dashboard_port}",
                flush=True,
            )
        launcher = Launcher(
            Path(args.data_dir),
            base_port=base_port,
            dashboard_port=dashboard_port,
            dashboard=not args.no_dashboard,
            log_dir=Path(args.log_dir) if args.log_dir else Path(args.data_dir) / "logs",
            databases=databases,
        )
        sys.exit(asyncio.run(launcher.run()))
    if args.command == "certs":
        from tooling.certs import DEFAULT_NAMES, make_certs

        files = make_certs(Path(args.dir), args.name or DEFAULT_NAMES, args.host)
        print("\n".join(str(f) for f in files))
        sys.exit(EXIT_OK)
    if args.command == "token":
        from sagakit.auth import new_token

        try:
            token, line = new_token(args.name, args.roles)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        print(f"token (FLIGHTSAGA_TOKEN): {token}\nAUTH_TOKENS_FILE line:    {line}")
        sys.exit(EXIT_OK)
    if args.command == "chaos":
        from chaos.cli import run as run_chaos

        sys.exit(run_chaos(args))
    try:
        sys.exit(asyncio.run(_run(args)))
    except Unreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_UNREACHABLE)
    except grpc.aio.AioRpcError as exc:
        # What went wrong comes from the status details (ErrorInfo, BadRequest); the message
        # is printed for people.
        typed = details_of(exc)
        reason = f" {typed.reason}" if typed.reason else ""
        print(f"error: {exc.code().name}{reason}: {exc.details()}", file=sys.stderr)
        for field, problem in typed.violations[1:]:
            print(f"  {field}: {problem}", file=sys.stderr)
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            sys.exit(EXIT_REFUSED)
        bad_input = bool(typed.violations) or typed.reason in USAGE_REASONS
        if not typed.reason:  # a server without details (older): by status code
            bad_input = exc.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        sys.exit(EXIT_USAGE if bad_input else EXIT_NOT_CONFIRMED)
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main(sys.argv[1:])
