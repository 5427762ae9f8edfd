"""Reading and steering sagas: `get`, `watch`, `resume`, `list` and `stats`.

A saga id may be given as `latest`, the newest saga, so examples need no copy-paste of ids.
"""

from __future__ import annotations

import argparse

from cli import render
from cli.common import EXIT_NOT_CONFIRMED, EXIT_OK, Command, Subparsers
from cli.remote import on_stack
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient

STATUSES = ["", "running", "compensating", "completed", "compensated", "failed"]


def add_commands(sub: Subparsers) -> dict[str, Command]:
    for name, text in (("get", "show one saga"), ("watch", "follow a saga's events live")):
        c = sub.add_parser(name, help=text)
        c.add_argument("saga_id", help="a saga id, or `latest`")
        c.add_argument("--json", action="store_true")
    rs = sub.add_parser("resume", help="operator retry of a FAILED saga")
    rs.add_argument("saga_id", help="a saga id, or `latest`")
    rs.add_argument("--clear-faults", action="store_true", help="drop the injected faults first")
    rs.add_argument("--json", action="store_true")
    ls = sub.add_parser("list", help="recent sagas")
    ls.add_argument("--status", default="", choices=STATUSES)
    ls.add_argument("--page-size", type=int, default=20)
    ls.add_argument("--page-token", default="")
    ls.add_argument("--json", action="store_true")
    st = sub.add_parser("stats", help="counts by saga and step state")
    st.add_argument("--json", action="store_true")
    return {
        "get": on_stack(get),
        "watch": on_stack(watch),
        "resume": on_stack(resume),
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


async def list_sagas(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    page = await fs.list(a.status, a.page_size, a.page_token)
    print(render.as_json(page) if a.json else render.list_text(page, a.status, a.page_token))
    return EXIT_OK


async def stats(fs: OrchestratorClient, a: argparse.Namespace) -> int:
    found = await fs.stats()
    print(render.as_json(found) if a.json else render.stats_text(found))
    return EXIT_OK
