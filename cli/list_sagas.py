"""`flightsaga list`: sagas found by status, customer, flight, failed step and reason, when
they were created and which saga they are (the same words as the dashboard's `/sagas`)."""

from __future__ import annotations

import argparse

import grpc

from cli import render
from cli.common import EXIT_OK, Subparsers
from orchestrator.client import OrchestratorClient
from sagakit.errors import details_of
from sagakit.saga_finder import FilterWords, fixed_times, parameter_of, saga_filter
from sagakit.timespec import HELP as TIME_HELP

STATUSES = ["", "running", "compensating", "completed", "compensated", "failed"]


def add_list(sub: Subparsers) -> None:
    ls = sub.add_parser("list", help="sagas, newest first, found by what they are about")
    add_filter_options(ls)
    ls.add_argument("--page-size", type=int, default=20)
    ls.add_argument("--page-token", default="")
    ls.add_argument("--json", action="store_true")


def add_filter_options(p: argparse.ArgumentParser) -> None:
    """The options that find sagas (`list`, and any command acting on a found set): read them
    back with `words_of`."""
    p.add_argument(
        "--status",
        action="append",
        default=[],
        type=str.lower,
        choices=STATUSES,
        help="any of these (repeat the option)",
    )
    p.add_argument("--customer", default="", help="the booking's customer (loyalty account)")
    p.add_argument("--flight", default="", help="a flight among the booking's legs")
    p.add_argument("--step", default="", help="the step of its latest failure, e.g. payment")
    p.add_argument("--reason", default="", help="that failure's reason, e.g. CARD_DECLINED")
    p.add_argument("--since", default="", help=f"created at or after: {TIME_HELP}")
    p.add_argument("--until", default="", help="created before (as --since)")
    p.add_argument("--saga", default="", help="a served saga's name (`flightsaga sagas`)")


def words_of(a: argparse.Namespace) -> FilterWords:
    return FilterWords(a.status, a.customer, a.flight, a.step, a.reason, a.since, a.until, a.saga)


async def list_sagas(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    words = words_of(a)
    where = saga_filter(words, label=lambda p: f"--{p}")  # ValueError: exit 2
    try:
        page = await fs.list(page_size=a.page_size, page_token=a.page_token, where=where)
    except grpc.aio.AioRpcError as exc:
        named = _as_option_error(exc)
        if named is None:
            raise
        raise named from None
    kind = ",".join(s for s in a.status if s)
    filtered = words != FilterWords(status=words.status)
    again = "".join(f" --{name} {moment}" for name, moment in fixed_times(where).items())
    text = render.list_text(page, kind, a.page_token, filtered, again)
    print(render.as_json(page) if a.json else text)
    return EXIT_OK


def _as_option_error(exc: grpc.aio.AioRpcError) -> ValueError | None:
    """A refused filter field as the option the user typed (`--step: unknown step ...`)."""
    if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return None
    typed = details_of(exc)
    param = parameter_of(typed.field or "")
    if param is None:
        return None
    problem = dict(typed.violations).get(typed.field or "", exc.details() or "")
    return ValueError(f"--{param}: {problem.removeprefix(f'{typed.field}: ')}")
