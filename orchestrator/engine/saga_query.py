"""Which sagas a filter means, as SQL on the saga log: ListSagas' pages and bulk operations.

A SagaQuery is a filter already checked (the servicer checks the API's SagaFilter). `where`
turns it into one FROM/WHERE whose every condition an index serves, newest first by keyset
(created_at, saga_id); `keys` reads a batch of matching sagas' keys, `count` counts them all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from orchestrator.engine.counts import total
from orchestrator.engine.model import SagaStatus
from sagakit.db import Conn

Key = tuple[str, str]  # a saga's (created_at, saga_id): its place in keyset order


@dataclass(frozen=True)
class SagaQuery:
    """Sagas matching every field set (AND); an empty query matches every saga."""

    statuses: tuple[SagaStatus, ...] = ()  # any of these
    owner: str | None = None  # who started it (a booker's own sagas)
    customer_id: str = ""
    flight_id: str = ""  # one of its flights
    step: str = ""  # the step of its latest failure (SagaRecord.failed_step), a wire name
    error_reason: str = ""  # that failure's reason (SagaRecord.error_reason)
    created_after: str = ""  # ISO timestamp, inclusive
    created_before: str = ""  # ISO timestamp, exclusive
    saga: str = ""  # the saga's definition name

    @property
    def by_status_only(self) -> bool:
        """Nothing but statuses: counted from saga_counts, not by a scan."""
        return self == SagaQuery(statuses=self.statuses)

    def fingerprint(self) -> str:
        """A short, stable digest of the query (page tokens are bound to it). A query of one
        status or none keeps the value tokens had before filters existed."""
        if self.by_status_only and len(self.statuses) <= 1:
            return self.statuses[0].value if self.statuses else ""
        fields = asdict(self)
        fields["statuses"] = sorted(s.value for s in self.statuses)
        raw = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


_EQUALS = (
    ("customer_id", "s.customer_id"),
    ("step", "s.failed_step"),
    ("error_reason", "s.error_reason"),
    ("saga", "s.definition"),
)


def where(q: SagaQuery, after: Key | None = None) -> tuple[str, str, list[object]]:
    """(FROM ... WHERE ..., the keyset table's alias, arguments). A flight filter reads
    saga_flights (flight_id, created_at, saga_id) in keyset order and joins each saga."""
    k = "f" if q.flight_id else "s"
    source = "sagas s JOIN saga_flights f ON f.saga_id = s.saga_id" if q.flight_id else "sagas s"
    conds: list[str] = []
    args: list[object] = []
    if q.flight_id:
        conds.append("f.flight_id = ?")
        args.append(q.flight_id)
    if q.owner is not None:
        conds.append("s.owner = ?")
        args.append(q.owner)
    for name, column in _EQUALS:
        if value := getattr(q, name):
            conds.append(f"{column} = ?")
            args.append(value)
    if q.statuses:
        conds.append(f"s.status IN ({','.join('?' * len(q.statuses))})")
        args += [s.value for s in q.statuses]
    if q.created_after:
        conds.append(f"{k}.created_at >= ?")
        args.append(q.created_after)
    if q.created_before:
        conds.append(f"{k}.created_at < ?")
        args.append(q.created_before)
    if after is not None:
        # A row value: one range on the keyset index (an OR of two made SQLite sort every
        # saga before the page).
        conds.append(f"({k}.created_at, {k}.saga_id) < (?, ?)")
        args += [after[0], after[1]]
    return f"FROM {source} WHERE {' AND '.join(conds) or '1=1'}", k, args


def keys(conn: Conn, q: SagaQuery, after: Key | None, limit: int) -> list[Key]:
    """Up to `limit` matching sagas' keys after `after`, newest first."""
    body, k, args = where(q, after)
    sql = (
        f"SELECT {k}.created_at, {k}.saga_id {body}"
        f" ORDER BY {k}.created_at DESC, {k}.saga_id DESC LIMIT ?"
    )
    return [(r[0], r[1]) for r in conn.execute(sql, [*args, limit]).fetchall()]


# A filter's count stops here: counting every match of a broad filter (one saga type, a wide
# time range) would grow with the log, and a list needs "more than this many", not the figure.
COUNT_CAP = 10_000


def count(conn: Conn, q: SagaQuery) -> tuple[int, bool]:
    """How many sagas match, and whether counting stopped at COUNT_CAP (then the figure is
    COUNT_CAP and more match). Statuses alone are read from the counts table: exact."""
    if q.by_status_only:
        if not q.statuses:
            return total(conn, None), False
        return sum(total(conn, s) for s in set(q.statuses)), False
    body, _, args = where(q)
    sql = f"SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {COUNT_CAP + 1}) AS capped"
    n = int(conn.execute(sql, args).fetchone()[0])
    return min(n, COUNT_CAP), n > COUNT_CAP
