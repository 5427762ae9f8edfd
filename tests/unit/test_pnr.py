"""Booking references: alphabet, shape, and what happens on a collision."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from booking_service import bookings, pnr
from sagakit.migrate import Migrations, upgrade


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1I") & set(pnr.ALPHABET)
    assert len(set(pnr.ALPHABET)) == len(pnr.ALPHABET) == 32


def test_new_references_are_six_unambiguous_characters() -> None:
    refs = {pnr.new_reference() for _ in range(2000)}
    assert all(pnr.is_reference(r) for r in refs)
    assert len(refs) > 1990  # ~1e9 possibilities: collisions in 2000 draws are very rare


@pytest.mark.parametrize("value", ["ABC12", "ABCDEFG", "ABCDE0", "abcdef", "ABCDEI"])
def test_is_reference_rejects(value: str) -> None:
    assert not pnr.is_reference(value)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    url = f"sqlite:///{tmp_path / 'booking.db'}"
    upgrade(url, Migrations("booking_service", marker_table="bookings"))
    c = sqlite3.connect(tmp_path / "booking.db")
    c.row_factory = sqlite3.Row
    yield c
    c.close()


ITINERARY = bookings.itinerary(
    [("Ann", "Lee", "")], 1, [("FS101-20261201", 0, "11A")], ["FS101-20261201"], {}, "", ""
)


def test_a_colliding_reference_is_drawn_again(conn: sqlite3.Connection) -> None:
    bookings.confirm(conn, "s1", "LOY-1001", ITINERARY, new_reference=lambda: "AAAAAA")
    draws = iter(["AAAAAA", "AAAAAA", "BBBBBB"])
    second = bookings.confirm(conn, "s2", "LOY-1001", ITINERARY, new_reference=lambda: next(draws))
    assert second.reference == "BBBBBB"
    assert conn.execute("SELECT COUNT(*) FROM bookings").fetchone()[0] == 2


def test_a_generator_stuck_on_one_value_gives_up(conn: sqlite3.Connection) -> None:
    bookings.confirm(conn, "s1", "LOY-1001", ITINERARY, new_reference=lambda: "AAAAAA")
    with pytest.raises(RuntimeError, match="no free booking reference"):
        bookings.confirm(conn, "s2", "LOY-1001", ITINERARY, new_reference=lambda: "AAAAAA")


def test_itinerary_round_trips_through_the_database(conn: sqlite3.Connection) -> None:
    made = bookings.confirm(conn, "s1", "LOY-1001", ITINERARY)
    assert bookings.find(conn, saga_id="s1") == made
    assert bookings.find(conn, reference=made.reference).itinerary == ITINERARY
