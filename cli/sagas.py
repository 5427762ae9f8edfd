"""Reading and steering sagas: `get`, `watch`, `resume`, `cancel`, `list` and `stats`; and any
served saga by name: `sagas` (what the orchestrator serves) and `start`.

A saga id may be given as `latest`, the newest saga, so examples need no copy-paste of ids.
"""

from __future__ import annotations

import argparse
import json

from cli import bulk, render
from cli.common import EXIT_NOT_CONFIRMED, EXIT_OK, Command, Subparsers
from cli.list_sagas import add_list, list_sagas
from cli.remote import on_stack
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient


def add_commands(sub: Subparsers) -> dict[str, Command]:
    for name, text in (("get", "show one saga"), ("watch", "follow a saga's events live")):
        c = sub.add_parser(name, help=text)
        c.add_argument("saga_id", help="a saga id, or `latest`")
        c.add_argument("--json", action="store_true")
    rs = sub.add_parser(
        "resume", help="operator retry of a FAILED saga, or of all a filter matches"
    )
    rs.add_argument("saga_id", nargs="?", default="", help="a saga id, or `latest`")
    rs.add_argument("--clear-faults", action="store_true", help="drop the injected faults first")
    rs.add_argument("--json", action="store_true")
    bulk.add_bulk_options(rs)
    # The filter's --reason (a failure's) gives way to the cancel's own (why), added after it.
    cn = sub.add_parser(
        "cancel",
        help="operator stop of a running saga, or of all a filter matches: it compensates",
        conflict_handler="resolve",
    )
    cn.add_argument("saga_id", nargs="?", default="", help="a saga id, or `latest`")
    bulk.add_bulk_options(cn)
    cn.add_argument("--reason", required=True, help="why: kept with the saga and in its events")
    cn.add_argument("--wait", action="store_true", help="answer once the saga has ended")
    cn.add_argument("--json", action="store_true")
    add_list(sub)
    st = sub.add_parser("stats", help="counts by saga and step state")
    st.add_argument("--json", action="store_true")
    ty = sub.add_parser("sagas", help="the sagas the orchestrator serves, with their steps")
    ty.add_argument("--json", action="store_true")
    sg = sub.add_parser("start", help="start a saga of any served kind, its input as JSON")
    sg.add_argument("saga", help="its name, e.g. trip (see `flightsaga sagas`)")
    sg.add_argument("input", help='its input as a JSON object, e.g. \'{"city": "LIS", ...}\'')
    sg.add_argument("--version", type=int, default=0, help="a served version (default latest)")
    sg.add_argument("--request-id", default="", help="idempotency key (default: a new one)")
    sg.add_argument("--wait", action="store_true", help="answer once the saga has ended")
    sg.add_argument("--fail-at", default="", help="comma-separated steps that must fail")
    sg.add_argument("--json", action="store_true")
    return {
        "sagas": on_stack(saga_types),
        "start": on_stack(start),
        "get": on_stack(get),
        "watch": on_stack(watch),
        "resume": on_stack(bulk.single_or_bulk(resume, pb.BULK_RESUME)),
        "cancel": on_stack(bulk.single_or_bulk(cancel, pb.BULK_CANCEL)),
        "list": on_stack(list_sagas),
        "stats": on_stack(stats),
    }


async def saga_id(fs: OrchestratorClient, given: str) -> str:
    """`given`, or for `latest` the id of the newest saga."""
    if given != "latest":
        return given
    page = await fs.list(page_size=1)
    if not page.sagas:
        raise ValueError("there are no sagas yet")
    return page.sagas[0].saga_id


async def get(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    saga = await fs.get(await saga_id(fs, a.saga_id))
    print(render.as_json(saga) if a.json else render.saga_text(saga))
    return EXIT_OK


async def watch(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    async for event in fs.watch(await saga_id(fs, a.saga_id)):
        print(render.as_json(event) if a.json else render.event_text(event), flush=True)
    return EXIT_OK


async def resume(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    saga = await fs.resume(await saga_id(fs, a.saga_id), a.clear_faults)
    print(render.as_json(saga) if a.json else render.saga_text(saga, resumed=True))
    return EXIT_OK if saga.status in (pb.COMPLETED, pb.COMPENSATED) else EXIT_NOT_CONFIRMED


async def cancel(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    saga = await fs.cancel(await saga_id(fs, a.saga_id), a.reason)
    if a.wait:
        async for _ in fs.watch(saga.saga_id):  # ends once the saga has
            pass
        saga = await fs.get(saga.saga_id)
    print(render.as_json(saga) if a.json else render.saga_text(saga))
    if not a.wait:
        return EXIT_OK
    return EXIT_OK if saga.status == pb.COMPENSATED else EXIT_NOT_CONFIRMED


async def saga_types(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    found = await fs.saga_types()
    print(render.as_json(found) if a.json else render.types_text(found))
    return EXIT_OK


async def start(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    try:
        given = json.loads(a.input)
    except json.JSONDecodeError as exc:
        raise ValueError(f"input: not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise ValueError("input: must be a JSON object")
    fail_at = [s.strip() for s in a.fail_at.split(",") if s.strip()]
    saga = await fs.start_saga(
        a.saga, given, a.version, a.request_id or None, a.wait, fail_at=fail_at
    )
    print(render.as_json(saga) if a.json else render.saga_text(saga))
    if not a.wait:
        return EXIT_OK
    return EXIT_OK if saga.status == pb.COMPLETED else EXIT_NOT_CONFIRMED


async def stats(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    found = await fs.stats()
    print(render.as_json(found) if a.json else render.stats_text(found))
    return EXIT_OK
