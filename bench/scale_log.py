"""The saga log of `python -m bench scale`, opened directly while the orchestrator is stopped:
real sagas read as templates, and the log grown from them by bulk SQL (finished sagas spread
over the last SEED_DAYS days, or unfinished ones as a `kill -9` leaves them)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.scale_filters import Shape
from flightsaga.v1 import orchestrator_pb2 as pb

SEED_DAYS = 20
TS_COLUMNS = {
    "created_at",
    "updated_at",
    "finished_at",
    "deadline_at",
    "started_at",
    "compensation_started_at",
    "compensated_at",
    "at",
}
TABLES = ("sagas", "saga_steps", "saga_events")
CHUNK = 5000  # sagas per insert transaction


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


class Log:
    """The orchestrator's database, opened directly (the orchestrator is stopped meanwhile)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgres")

    @contextlib.contextmanager
    def conn(self) -> Iterator[Any]:
        if self.pg:
            import psycopg

            with psycopg.connect(self.url) as pg:
                yield pg
        else:
            c = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            c.execute("PRAGMA synchronous=OFF")
            try:
                yield c
            finally:
                c.close()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.conn() as c:
            cur = c.execute(sql.replace("?", "%s") if self.pg else sql, args)
            return [tuple(r) for r in cur.fetchall()]

    def columns(self, table: str) -> list[str]:
        with self.conn() as c:
            cur = c.execute(f"SELECT * FROM {table} LIMIT 0")
            return [d[0] for d in cur.description]

    def insert(self, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        with self.conn() as c:
            if self.pg:
                with (
                    c.cursor() as cur,
                    cur.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN") as cp,
                ):
                    for row in rows:
                        cp.write_row(row)
                c.commit()
            else:
                c.execute("BEGIN")
                c.executemany(
                    f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                    rows,
                )
                c.execute("COMMIT")

    def add_counts(self, counts: dict[str, int]) -> None:
        sql = (
            "INSERT INTO saga_counts (stripe, key, n) VALUES (0, ?, ?)"
            " ON CONFLICT (stripe, key) DO UPDATE SET n = saga_counts.n + excluded.n"
        )
        if not self.query(
            "SELECT 1 FROM alembic_version WHERE version_num >= ?", ("0004",)
        ):  # a release before saga_counts (--code): it counts the log itself
            return
        with self.conn() as c:
            for key, n in counts.items():
                c.execute(sql.replace("?", "%s") if self.pg else sql, (key, n))
            if self.pg:
                c.commit()

    def size_bytes(self) -> int:
        if self.pg:
            return int(self.query("SELECT pg_database_size(current_database())")[0][0])
        path = Path(self.url.removeprefix("sqlite:///"))
        with self.conn() as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


@dataclass
class Template:
    """One real saga's rows, timestamps as offsets from its start."""

    rows: dict[str, list[dict[str, Any]]]
    start: datetime


def read_templates(log: Log, status: str = "COMPLETED") -> list[Template]:
    cols = {t: log.columns(t) for t in TABLES}
    ids = [r[0] for r in log.query("SELECT saga_id FROM sagas WHERE status=?", (status,))]
    out = []
    for saga_id in ids:
        rows = {
            t: [
                dict(zip(cols[t], r, strict=True))
                for r in log.query(f"SELECT * FROM {t} WHERE saga_id=?", (saga_id,))
            ]
            for t in TABLES
        }
        out.append(Template(rows, _ts(rows["sagas"][0]["created_at"])))
    return out


def shape_of(log: Log) -> Shape:
    """The real sagas to copy: the completed ones, and the compensated ones (FAILED_AT)."""
    has_filters = "customer_id" in log.columns("sagas")
    return Shape(read_templates(log), read_templates(log, "COMPENSATED"), has_filters)


def _copy(row: dict[str, Any], saga_id: str, shift: timedelta, **changes: Any) -> dict[str, Any]:
    new = dict(row, saga_id=saga_id, **changes)
    for c in TS_COLUMNS & new.keys():
        if isinstance(new[c], str) and c not in changes:
            new[c] = iso(_ts(new[c]) + shift)
    return new


def seed_finished(log: Log, shape: Shape, first: int, last: int, top: int) -> float:
    """Sagas number `first` to `last` - 1 of a log that will hold `top`, copies of the
    templates `shape` picks, started over the last SEED_DAYS days in order; returns the seconds
    it took."""
    began = time.perf_counter()
    cols = {t: log.columns(t) for t in TABLES}
    origin = datetime.now(UTC) - timedelta(days=SEED_DAYS)
    step = timedelta(days=SEED_DAYS - 1) / top
    counts: dict[str, int] = {}
    for lo in range(first, last, CHUNK):
        batch: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        flights: list[tuple[str, str, str]] = []
        for i in range(lo, min(last, lo + CHUNK)):
            t = shape.template(i)
            saga_id = uuid.UUID(int=i + 1).hex
            shift = origin + step * i - t.start
            for table in TABLES:
                for row in t.rows[table]:
                    extra = shape.saga_changes(i) if table == "sagas" else {}
                    new = _copy(row, saga_id, shift, **extra)
                    batch[table].append(tuple(new[c] for c in cols[table]))
                    if table == "sagas":
                        flights += shape.flight_rows(i, saga_id, new["created_at"])
        for table in TABLES:
            log.insert(table, cols[table], batch[table])
        if flights:
            log.insert("saga_flights", ["flight_id", "created_at", "saga_id"], flights)
    for i in range(first, last):
        t = shape.template(i)
        saga = t.rows["sagas"][0]
        counts[saga["status"]] = counts.get(saga["status"], 0) + 1
        for st in t.rows["saga_steps"]:
            key = f"all:{st['state']}"
            counts[key] = counts.get(key, 0) + 1
    log.add_counts(counts)
    return time.perf_counter() - began


def seed_unfinished(
    log: Log, template: Template, flights: list[str], owner: str, n: int
) -> list[str]:
    """`n` sagas as a kill -9 leaves them: saga and first step started, the rest pending,
    leases held by the dead `owner`. Each books one seat on the next flight of `flights`."""
    cols = {t: log.columns(t) for t in TABLES}
    now = datetime.now(UTC)
    base = template.rows
    request = pb.BookFlightRequest.FromString(bytes(base["sagas"][0]["payload"]))
    ids, rows = [], {t: [] for t in TABLES}  # type: ignore[var-annotated]
    leases = []
    for i in range(n):
        saga_id = uuid.uuid4().hex
        ids.append(saga_id)
        shift = now - timedelta(seconds=n - i) / 100 - template.start
        del request.flight_ids[:]
        request.flight_ids.append(flights[i % len(flights)])
        request.loyalty_points = 1
        saga = _copy(
            base["sagas"][0],
            saga_id,
            shift,
            status="RUNNING",
            idempotency_key=None,
            finished_at=None,
            deadline_at=iso(now + timedelta(hours=1)),
            payload=request.SerializeToString(deterministic=True),
            error="",
            compensation_order="[]",
            event_seq=2,
            lease_epoch=1,
        )
        rows["sagas"].append(tuple(saga[c] for c in cols["sagas"]))
        for st in base["saga_steps"]:
            first = st["idx"] == 1
            step = _copy(
                st,
                saga_id,
                shift,
                state="EXECUTING" if first else "PENDING",
                attempts=1 if first else 0,
                finished_at=None,
                result=None,
                **({} if first else {"started_at": None}),
            )
            rows["saga_steps"].append(tuple(step[c] for c in cols["saga_steps"]))
        for ev in sorted(base["saga_events"], key=lambda e: e["seq"])[:2]:
            e = _copy(ev, saga_id, shift, status="RUNNING")
            rows["saga_events"].append(tuple(e[c] for c in cols["saga_events"]))
        leases.append((saga_id, owner, 1, time.time() + 5))
    for table in TABLES:
        log.insert(table, cols[table], rows[table])
    log.insert("saga_leases", ["saga_id", "owner", "epoch", "expires"], leases)
    return ids
