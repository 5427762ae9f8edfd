"""The scenario matrix's pure parts: what each cell must end with, how a participant's records
read as an effect, and the page the report becomes."""

from __future__ import annotations

import argparse

import pytest

from cli.main import parser
from flightsaga.v1 import records_pb2
from sagas.booking import STEP_ORDER
from testkit.matrix import report
from testkit.matrix.cells import Stop, plan_cells
from testkit.matrix.cli import options
from testkit.matrix.columns import COLUMNS, Column, NotApplicable
from testkit.matrix.effects import Effect, SagaRecords, StepRecords, classify

SEAT, LOYALTY, PAYMENT, BOOKING = STEP_ORDER
N, E, U = Effect.NONE, Effect.EFFECTIVE, Effect.UNDONE


def column(name: str) -> Column:
    return next(c for c in COLUMNS if c.name == name)


def only(*effects: Effect) -> tuple[frozenset[Effect], ...]:
    return tuple(frozenset({e}) for e in effects)


def test_fail_at_a_step_undoes_the_steps_before_it_last_first() -> None:
    sc = column("fail").scenario(2, STEP_ORDER)
    assert not isinstance(sc, NotApplicable)
    assert (sc.fail_at, sc.fault) == (PAYMENT, "")
    assert sc.expect.status == "COMPENSATED"
    assert sc.expect.compensations == (LOYALTY, SEAT)
    assert sc.expect.effects == only(U, U, N, N)


def test_a_delayed_step_is_compensated_itself_and_never_left_effective() -> None:
    sc = column("delay").scenario(1, STEP_ORDER)
    assert not isinstance(sc, NotApplicable)
    assert sc.expect.compensations == (LOYALTY, SEAT)
    assert sc.expect.effects[1] == frozenset({N, U})


def test_a_compensation_failure_pairs_with_a_failure_of_the_last_step() -> None:
    sc = column("compensate-fail=2").scenario(0, STEP_ORDER)
    assert not isinstance(sc, NotApplicable)
    assert (sc.fail_at, sc.fault) == (BOOKING, f"{SEAT}:compensate-fail=2")
    assert sc.expect.compensations == (PAYMENT, LOYALTY, SEAT)


def test_the_last_steps_compensation_failure_pairs_with_its_own_delay() -> None:
    sc = column("compensate-fail=2").scenario(3, STEP_ORDER)
    assert not isinstance(sc, NotApplicable)
    assert (sc.fail_at, sc.fault) == ("", f"{BOOKING}:delay,{BOOKING}:compensate-fail=2")
    assert sc.expect.compensations == (BOOKING, PAYMENT, LOYALTY, SEAT)


def test_always_failing_compensation_stops_failed_then_resume_finishes_it() -> None:
    sc = column("compensate-fail=always+resume").scenario(1, STEP_ORDER)
    assert not isinstance(sc, NotApplicable) and sc.then is not None
    assert sc.expect.status == "FAILED"
    assert sc.expect.compensations == (PAYMENT,)  # compensated before loyalty's kept failing
    assert sc.expect.effects == only(E, E, U, N)
    assert sc.then.action == "resume"
    assert sc.then.expect.status == "COMPENSATED"
    assert sc.then.expect.effects == only(U, U, U, N)


@pytest.mark.parametrize("k", range(len(STEP_ORDER)))
def test_a_cancel_holds_the_step_in_flight_and_compensates_it_with_the_earlier_ones(
    k: int,
) -> None:
    sc = column("cancel").scenario(k, STEP_ORDER)
    assert not isinstance(sc, NotApplicable) and sc.during is not None
    assert (sc.fail_at, sc.fault) == ("", f"{STEP_ORDER[k]}:delay")
    assert (sc.during.action, sc.during.step) == ("cancel", STEP_ORDER[k])
    assert sc.then is None
    assert (sc.expect.status, sc.expect.cancelled) == ("COMPENSATED", True)
    assert sc.expect.compensations == tuple(reversed(STEP_ORDER[: k + 1]))
    assert sc.expect.effects[:k] == only(*[U] * k)
    assert sc.expect.effects[k] == frozenset({N, U})  # the held Do may have run
    assert sc.expect.effects[k + 1 :] == only(*[N] * (len(STEP_ORDER) - k - 1))


def test_only_the_cancel_column_expects_a_cancelled_saga() -> None:
    cells = plan_cells(STEP_ORDER, COLUMNS, "r0")
    assert len(cells) == 4 * 7
    cancelled = {c.column for c in cells if c.scenario and c.scenario.expect.cancelled}
    assert cancelled == {"cancel"}


def test_a_column_may_say_a_cell_does_not_apply() -> None:
    def never(k: int, steps: object) -> NotApplicable:
        return NotApplicable("no such thing")

    cells = plan_cells(STEP_ORDER, [*COLUMNS, Column("never", "n/a", never)], "r1")
    assert len(cells) == 4 * (len(COLUMNS) + 1)
    na = [c for c in cells if c.scenario is None]
    assert [c.not_applicable for c in na] == ["no such thing"] * 4
    assert not any(c.passed for c in na)


def test_records_read_as_each_steps_effect() -> None:
    def reply(step: str, marks: list[tuple[str, str]], kinds: list[str]) -> records_pb2.SagaRecords:
        return records_pb2.SagaRecords(
            barrier=[records_pb2.BarrierRecord(step=step, op=o, outcome=r) for o, r in marks],
            effects=[records_pb2.Effect(kind=k) for k in kinds],
        )

    held = SagaRecords(
        "s1",
        {
            SEAT: StepRecords.of(SEAT, reply(SEAT, [("do", "applied")], ["seat_hold"])),
            LOYALTY: StepRecords.of(
                LOYALTY,
                reply(LOYALTY, [("do", "applied"), ("compensate", "applied")], ["a", "b"]),
            ),
            # a Compensate before any Do leaves a null mark and nothing else
            PAYMENT: StepRecords.of(PAYMENT, reply(PAYMENT, [("compensate", "null")], [])),
            # another step's marks at the same participant are not this step's
            BOOKING: StepRecords.of(BOOKING, reply(SEAT, [("compensate", "applied")], ["x"])),
        },
    )
    assert classify(held) == {SEAT: E, LOYALTY: U, PAYMENT: N, BOOKING: E}
    assert set(classify(SagaRecords("s2")).values()) == {N}


def parse(*argv: str) -> argparse.Namespace:
    p, _ = parser()
    return p.parse_args(["matrix", *argv])


def test_options_select_columns_and_rows_by_alias() -> None:
    opts = options(parse("--faults", "fail,delay", "--steps", "payment,seat", "--out", "/tmp/m"))
    assert [c.name for c in opts.columns] == ["fail", "delay"]
    assert list(opts.steps) == [SEAT, PAYMENT]  # saga order, whatever the order given


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("--faults", "explode"), "--faults"),
        (("--steps", "hotel"), "--steps"),
        (("--seat-addr", "127.0.0.1:1"), "--<service>-addr"),
        (("--concurrency", "0"), "--concurrency"),
    ],
)
def test_bad_options_name_the_option(argv: tuple[str, ...], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        options(parse(*argv))


def test_the_page_has_a_row_per_step_a_column_per_fault_and_links_to_sagas() -> None:
    cells = plan_cells(STEP_ORDER[:2], COLUMNS[:2], "r2")
    for i, cell in enumerate(cells):
        assert cell.scenario is not None
        cell.saga_id = f"saga-{i}"
        cell.stops = [Stop("end", cell.scenario.expect, status=cell.scenario.expect.status)]
    cells[1].problems.append("status: expected COMPLETED, found <FAILED>")
    doc = report.build(
        cells,
        STEP_ORDER[:2],
        COLUMNS[:2],
        [],
        orchestrator="o:1",
        dashboard="http://d:8/",
        stack="target",
        env={},
        seconds=1.0,
    )
    assert (doc["passed"], doc["total"], doc["ok"]) == (3, 4, False)
    assert doc["matrix"][SEAT] == {"fail": "pass", "transient=2": "fail"}
    html = report.page(doc)
    assert html.count('<tr><th scope="row">') == 2
    assert 'href="http://d:8/test?saga=saga-0"' in html
    assert "&lt;FAILED&gt;" in html  # problems are escaped


def test_a_subset_of_rows_keeps_each_cells_place_in_the_saga() -> None:
    [cell] = plan_cells(STEP_ORDER, [column("fail")], "r3", rows=[PAYMENT])
    assert cell.scenario is not None
    assert cell.scenario.fail_at == PAYMENT
    assert cell.scenario.expect.compensations == (LOYALTY, SEAT)
