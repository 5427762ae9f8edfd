"""`python -m bench roundtrips`: one saga-log transition's write, by shape and backend.

A transition writes its saga row (an UPDATE by key, fenced by the lease epoch) and its rows
(here one two-row INSERT). SQLite runs that in process (WAL, synchronous FULL); PostgreSQL, as
the code does it today, in four round trips: psycopg's BEGIN, the UPDATE, the INSERT, COMMIT.
Two shapes the code does not have are measured beside them, as the floor the cuts left could
reach: one statement (the UPDATE's RETURNING gates the INSERT) in a transaction, and the same
statement in autocommit, one round trip (what a server-side function per transition reaches at
best). Rounds alternate the shapes; wall time and this process's CPU per transition, medians.
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

SAGAS = "CREATE TABLE sagas (saga_id TEXT PRIMARY KEY, status TEXT, epoch INTEGER, at TEXT)"
EVENTS = (
    "CREATE TABLE saga_events (saga_id TEXT, seq INTEGER, kind TEXT, attempt INTEGER,"
    " detail TEXT, PRIMARY KEY (saga_id, seq))"
)
UPDATE = "UPDATE sagas SET status=%s, at=%s WHERE saga_id=%s AND epoch=%s"
INSERT = "INSERT INTO saga_events VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s)"
ONE_STATEMENT = (
    "WITH fenced AS (UPDATE sagas SET status=%s, at=%s WHERE saga_id=%s AND epoch=%s"
    " RETURNING 1) INSERT INTO saga_events SELECT * FROM (VALUES"
    " (%s::text, %s::int, %s::text, %s::int, %s::text),"
    " (%s::text, %s::int, %s::text, %s::int, %s::text)) v WHERE EXISTS (SELECT 1 FROM fenced)"
)

Write = Callable[[str, int], None]  # one transition of saga `id`, its `n`-th


def _rows(saga_id: str, n: int) -> tuple[object, ...]:
    return (saga_id, 2 * n, "STEP_DONE", None, "{}", saga_id, 2 * n + 1, "STEP_START", 1, None)


def _sqlite(folder: Path) -> tuple[Write, Callable[[], None]]:
    conn = sqlite3.connect(folder / "log.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    update, insert = UPDATE.replace("%s", "?"), INSERT.replace("%s", "?")

    def write(saga_id: str, n: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(update, ("RUNNING", "t", saga_id, 1))
        conn.execute(insert, _rows(saga_id, n))
        conn.execute("COMMIT")

    return write, conn.close


def _postgres(url: str, shape: str) -> tuple[Write, Callable[[], None]]:
    autocommit = shape == "one statement, autocommit"
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET default_transaction_isolation = 'serializable'")
    conn.execute("SET synchronous_commit = on")
    conn.autocommit = autocommit

    def today(saga_id: str, n: int) -> None:
        conn.execute(UPDATE, ("RUNNING", "t", saga_id, 1), prepare=True)
        conn.execute(INSERT, _rows(saga_id, n), prepare=True)
        conn.commit()

    def folded(saga_id: str, n: int) -> None:
        conn.execute(ONE_STATEMENT, ("RUNNING", "t", saga_id, 1, *_rows(saga_id, n)), prepare=True)
        if not autocommit:
            conn.commit()

    return (today if shape == "today" else folded), conn.close


def _schema(execute: Callable[[str], Any], ids: list[str]) -> None:
    execute(SAGAS)
    execute(EVENTS)
    for saga_id in ids:
        execute(f"INSERT INTO sagas VALUES ('{saga_id}', 'RUNNING', 1, 't')")


def _time(write: Write, ids: list[str], seq: Iterator[int]) -> tuple[float, float]:
    """µs of wall time and of this process's CPU per transition (`seq`: the events' numbers)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for saga_id, n in zip(ids, seq, strict=False):
        write(saga_id, n)
    n = len(ids)
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


SHAPES = ("today", "one statement, in a transaction", "one statement, autocommit")


def run(transitions: int, rounds: int, folder: Path) -> dict[str, list[tuple[float, float]]]:
    from tooling.pgcluster import start_cluster

    ids = [uuid.uuid4().hex for _ in range(transitions)]
    cluster = start_cluster()
    try:
        cluster.admin("CREATE DATABASE roundtrips OWNER flightsaga")
        url = cluster.url_for("roundtrips")
        with psycopg.connect(url, autocommit=True) as conn:
            _schema(conn.execute, ids)
        lite = sqlite3.connect(folder / "log.db", isolation_level=None)
        _schema(lite.execute, ids)
        lite.close()
        makers: dict[str, Callable[[], tuple[Write, Callable[[], None]]]] = {
            "sqlite": partial(_sqlite, folder)
        }
        for shape in SHAPES:
            makers[f"postgres, {shape}"] = partial(_postgres, url, shape)
        out: dict[str, list[tuple[float, float]]] = {name: [] for name in makers}
        seq = itertools.count()  # one numbering of events per log: no key is written twice
        for _ in range(rounds):
            for name, make in makers.items():
                write, close = make()
                _time(write, ids[:50], seq)  # warm: the connection, its prepared statements
                out[name].append(_time(write, ids, seq))
                close()
        return out
    finally:
        cluster.destroy()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench roundtrips",
        description="One saga-log transition's write, by shape: see bench/roundtrips.py.",
    )
    parser.add_argument("-n", "--transitions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds, shapes alternating")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-roundtrips-") as folder:
        results = run(args.transitions, args.repeat, Path(folder))
    print(f"{args.transitions} transitions x {args.repeat} rounds; medians (each round)")
    print(f"{'':45} {'wall µs':>9} {'CPU µs':>9}")
    for name, rounds in results.items():
        wall = statistics.median(w for w, _ in rounds)
        cpu = statistics.median(c for _, c in rounds)
        each = ", ".join(f"{w:.0f}/{c:.0f}" for w, c in rounds)
        print(f"{name:45} {wall:9.0f} {cpu:9.0f}   ({each})")
    return 0
