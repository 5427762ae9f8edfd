"""The HA stack (docker-compose.ha.yml): three orchestrator replicas behind one published gRPC
address (nginx), two replicas of each participant behind one name. A booking run loses one
container of each kind to `docker kill` and still ends with every saga terminal, nothing lost
and nothing doubled. Run by the compose tier's `ha` pass only."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter

import httpx
import pytest

from chaos import invariants
from chaos.plan import COMPENSATED, COMPLETED, BookingSpec
from chaos.records import list_sagas, read_balances, read_flights, read_participants
from chaos.workload import Workload
from flightsaga.v1 import common_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.peers import Addrs, Peers
from tests.compose import sagas, stackctl
from tests.compose.monitoring import delivered, eventually
from tests.compose.stackctl import Clients
from tests.e2e.tools import grpcurl_transport
from tests.support.dates import flight_date

pytestmark = pytest.mark.skipif(
    not stackctl.HA,
    reason="needs the HA stack (docker-compose.ha.yml): the compose tier's `ha` pass runs it",
)

PROXY = stackctl.GRPC_ADDRS["orchestrator"]
SECOND_REPLICAS = tuple(replicas[1] for replicas in stackctl.PARTICIPANT_REPLICAS.values())
KILLED = ("orchestrator-2", *SECOND_REPLICAS)  # one container of each kind

# (x-fault, the ending the client asked for). Delays stay under the step deadline (3 s): they
# keep sagas in flight at the kill. Every fault is retried or compensated through, none needs
# an operator, so every saga must end COMPLETED or COMPENSATED.
MIX: list[tuple[str, str]] = [
    ("", COMPLETED),
    ("loyalty:delay=1500", COMPLETED),
    ("payment:transient=2", COMPLETED),
    ("booking:lost-reply", COMPLETED),
    ("seat:delay=1000,payment:fail", COMPENSATED),
    ("payment:delay=1000,booking:fail,loyalty:compensate-fail=1", COMPENSATED),
    ("payment:lost-reply,booking:fail", COMPENSATED),
    ("booking:delay=1500", COMPLETED),
]
BOOKINGS = 80


def stack_peers(addrs: Addrs) -> Peers:
    """The chaos campaign's clients, over the tier's transport (TLS_* of the tier: mTLS, the
    client certificate), round_robin."""
    return Peers(addrs.as_dict(), token="")


async def published(service: str) -> list[dict[str, str]]:
    cid = await stackctl.container_id(service)
    ports = json.loads(
        await stackctl.run("docker", "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)
    )
    return [b for binds in (ports or {}).values() if binds for b in binds]


async def logs(service: str, since: int) -> str:
    """The container's output since the Unix time `since`, stdout and stderr (where the
    services log) alike; a dead container's too."""
    cid = await stackctl.container_id(service)
    proc = await asyncio.create_subprocess_exec(
        "docker",
        "logs",
        "--since",
        str(since),
        cid,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"docker logs {service}: {out.decode()[-500:]}"
    return out.decode()


def upstreams(proxy_log: str, method: str) -> Counter[str]:
    """How many `method` calls the proxy handed to each replica address (its access log)."""
    served: Counter[str] = Counter()
    for line in proxy_log.splitlines():
        if f"/flightsaga.v1.Orchestrator/{method} " in line:
            found = re.search(r" upstream=(.+) \S+s$", line)
            if found:
                # "a, b": the first replica did not answer the connection, the next one took it.
                served[found.group(1).split(", ")[-1]] += 1
    return served


async def test_one_published_address_in_front_of_unpublished_replicas(clients: Clients) -> None:
    await stackctl.wait_healthy(stackctl.STACK_SERVICES, timeout=120)
    for replica in (*stackctl.ORCHESTRATOR_REPLICAS, *SECOND_REPLICAS):
        assert not await published(replica), f"{replica} is published on the host"
    # The API's address is the proxy: nginx, unprivileged, on 127.0.0.1 only.
    proxy = await stackctl.container_id("orchestrator")
    assert "nginx" in await stackctl.run("docker", "top", proxy)
    assert {b["HostIp"] for b in await published("orchestrator")} == {"127.0.0.1"}

    # Calls through it reach every replica (each call to one of the addresses DNS gives).
    since = int(time.time()) - 1
    for _ in range(30):
        await clients.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
    served = upstreams(await logs("orchestrator", since), "GetStats")
    assert len(served) == 3, f"GetStats calls by replica: {dict(served)}"


async def test_prometheus_scrapes_every_replica(clients: Clients) -> None:
    # By DNS (docker/prometheus/prometheus.ha.yml): three orchestrators, two of each participant.
    want = {"orchestrator": 3, **{f"{p}_service": 2 for p in stackctl.PARTICIPANT_REPLICAS}}
    url = f"{stackctl.PROMETHEUS_URL}/api/v1/query"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                reply = await http.get(url, params={"query": 'up{job="flightsaga"} == 1'})
                result = reply.json()["data"]["result"]
            except (httpx.HTTPError, KeyError, ValueError) as exc:  # still starting
                result, last = [], repr(exc)
            else:
                last = repr(result)
            up = Counter(r["metric"]["service"] for r in result)
            if up == want:
                return
            assert time.monotonic() < deadline, f"targets up: {dict(up)}, want {want}; {last}"
            await asyncio.sleep(1)


async def test_grpcurl_watches_a_saga_through_the_proxy(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    saga = await sagas.start(
        clients,
        sagas.book_request(flight, "ha-watch"),
        fault="loyalty:delay=1000,payment:delay=1000",
        wait=0.5,
    )
    assert saga.status == pb.RUNNING, sagas.status(saga)
    # The real grpcurl on the host, server streaming through nginx until the saga ends.
    out = await stackctl.run(
        stackctl.grpcurl_path(),
        *grpcurl_transport(),
        "-max-time",
        "60",
        "-d",
        json.dumps({"saga_id": saga.saga_id}),
        PROXY,
        "flightsaga.v1.Orchestrator/WatchSaga",
    )
    events = [json.loads(chunk) for chunk in re.split(r"(?<=})\n(?={)", out.strip())]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "SAGA_STARTED", kinds
    assert kinds[-1] == "SAGA_COMPLETED", kinds
    assert kinds.count("STEP_SUCCEEDED") == 4, kinds
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1)), kinds


async def test_a_container_of_each_kind_killed_mid_run_loses_and_doubles_nothing(
    clients: Clients,
) -> None:
    found: seat_pb2.SearchFlightsResponse = await clients.seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=flight_date(2), cabin_class=common_pb2.ECONOMY
        ),
        timeout=10,
    )
    pool = [leg.flight_id for leg in sorted(found.outbound, key=lambda leg: -leg.seats_available)]
    pool = pool[:3]
    assert pool, f"no JFK-LAX flight on {flight_date(2)}"
    # Every read and booking of the run goes through the published addresses: the orchestrator
    # API through the proxy, each participant through its first replica.
    firsts = (stackctl.GRPC_ADDRS[p] for p in stackctl.PARTICIPANT_REPLICAS)
    peers = stack_peers(Addrs(PROXY, *firsts))
    try:
        before = await list_sagas(peers)
        flights_before = await read_flights(peers, pool)
        balances_before = await read_balances(peers, [sagas.CUSTOMER])
        since = int(time.time()) - 1

        run_id = uuid.uuid4().hex[:8]
        work = Workload(peers, pool, f"ha-{run_id}", client_timeout_s=10.0, concurrency=12)
        specs = [
            BookingSpec(
                key=f"{i:03d}",
                phase=0,
                flights=(i % len(pool),),
                passengers=1,
                account=sagas.CUSTOMER,
                points=sagas.POINTS,
                card="4242424242424242",
                fail_at="",
                fault=fault,
                expect=expect,
                retries=10,
            )
            for i, (fault, expect) in enumerate(MIX[i % len(MIX)] for i in range(BOOKINGS))
        ]
        trigger = asyncio.Event()
        booking = asyncio.create_task(work.run(iter(specs), BOOKINGS // 3, None, trigger))
        await trigger.wait()
        # Bookings asked for whose BookFlight has not answered yet (the client's own view).
        in_flight = len(work.specs) - sum(1 for c in work.calls if c.code == "OK")
        await asyncio.gather(*(stackctl.docker_kill(service) for service in KILLED))
        killed_at = time.monotonic()
        for service in KILLED:
            assert (await stackctl.container_state(service)).startswith("exited"), service
        assert await booking == BOOKINGS
        assert in_flight >= 4, f"only {in_flight} bookings were in flight at the kill"

        # Every saga of the run ends, driven by the surviving replicas.
        key_prefix = work.key(specs[0])[: -len(specs[0].key)]
        deadline = time.monotonic() + 240
        while True:
            sagas_now = await list_sagas(peers)
            ours = {s.saga_id: s for s in sagas_now.values() if s.key.startswith(key_prefix)}
            live = [s for s in ours.values() if s.status not in ("COMPLETED", "COMPENSATED")]
            if not live or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        settled_s = time.monotonic() - killed_at  # reported, not asserted
        assert not live, f"{len(live)} sagas not COMPLETED/COMPENSATED: {live[:5]}"
        assert sorted(s.key for s in ours.values()) == sorted(work.specs), (
            "one saga per booking asked for"
        )

        # The participants' own records agree with every ending; no seat, point, payment or
        # booking is lost or doubled (chaos/invariants.py, the chaos campaign's checker).
        evidence = invariants.Evidence(
            sagas=sagas_now,
            records=await read_participants(peers, ours),
            specs=work.specs,
            legs={work.key(s): [pool[s.flights[0]]] for s in specs},
            calls=work.calls,
            key_prefix=key_prefix,
            flights_before=flights_before,
            flights_after=await read_flights(peers, pool),
            balances_before=balances_before,
            balances_after=await read_balances(peers, [sagas.CUSTOMER]),
            preexisting=frozenset(before),
        )
        violations = invariants.check(evidence)
        assert not violations, "\n".join(str(v) for v in violations[:20])
        endings = Counter(s.status for s in ours.values())
        codes = Counter(c.code for c in work.calls)
        print(
            f"HA run: {BOOKINGS} bookings, {in_flight} in flight at the kill, all terminal "
            f"{settled_s:.1f} s after it; endings {dict(endings)}; BookFlight calls by status "
            f"{dict(codes)}"
        )

        # A survivor that took over sagas of the killed replica set off the takeover alert, and
        # Alertmanager delivered it (docs/observability.md#alerts).
        replicas = [r for r in stackctl.ORCHESTRATOR_REPLICAS if r not in KILLED]
        survivors_logs = [await logs(r, since) for r in replicas]
        if any("taking over" in text for text in survivors_logs):
            async with httpx.AsyncClient(timeout=5) as http:
                await eventually(
                    "FlightSagaLeaseTakeover delivered",
                    lambda: delivered(http, "FlightSagaLeaseTakeover"),
                    60,
                )

        # Calls were spread: every replica served some before it died or the run ended.
        served = upstreams(await logs("orchestrator", since), "BookFlight")
        assert len(served) == 3, f"BookFlight calls by orchestrator replica: {dict(served)}"
        for replicas in stackctl.PARTICIPANT_REPLICAS.values():
            for replica in replicas:
                assert "Do committed" in await logs(replica, since), f"{replica} did no Do"
    finally:
        await peers.close()
    survivors = [s for s in stackctl.STACK_SERVICES if s not in KILLED]
    await stackctl.wait_healthy(survivors, timeout=60)
