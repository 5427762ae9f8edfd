"""Admission of new sagas (orchestrator.admission) and the RetryInfo it sends."""

from __future__ import annotations

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.admission import Admission
from orchestrator.admission_gate import NEW_SAGA_KEYS
from orchestrator.config import OrchestratorConfig
from sagakit.config import ConfigError
from sagakit.errors import DETAILS_KEY, Overloaded, details_of, retry_later
from sagakit.interceptors import Canned


class Trailing:
    """What details_of reads from a failed call: its trailing metadata."""

    def __init__(self, err: Overloaded) -> None:
        self.md = ((DETAILS_KEY, err.status().SerializeToString()),)

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self.md


def admission(limit: int, driven: list[int], known: frozenset[str] = frozenset()) -> Admission:
    async def known_key(key: str) -> bool:
        return key in known

    return Admission(limit, lambda: driven[0], known_key)


async def test_admits_up_to_the_limit_counting_starts_under_way() -> None:
    gate = admission(2, [1])
    async with gate.slot(""):
        assert not gate.has_room()  # one driven, one being started
        with pytest.raises(Overloaded):
            async with gate.slot("k1"):
                pass
    assert gate.has_room()


async def test_a_known_key_is_answered_when_full_and_a_new_one_refused() -> None:
    gate = admission(1, [1], frozenset({"seen"}))
    async with gate.slot("seen"):
        pass
    with pytest.raises(Overloaded) as info:
        async with gate.slot("new"):
            pass
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.message.startswith("The orchestrator is busy: retry later (in about 1 s)")


async def test_a_place_taken_counts_until_given_back_and_replays_are_answered_when_full() -> None:
    gate = admission(2, [1], frozenset({"seen"}))
    assert gate.take() and not gate.take()  # one driven, one held: full
    assert (await gate.answers("seen"), await gate.answers("new"), await gate.answers("")) == (
        True,
        False,
        False,
    )
    gate.give_back()
    assert await gate.answers("new")


def test_the_refusal_sent_unparsed_is_the_one_the_servicer_sends() -> None:
    gate = admission(3, [3])
    canned, err = Canned.of(gate.overloaded()), gate.overloaded()
    assert (canned.code, canned.message) == (err.code, err.message)
    assert canned.details == err.status().SerializeToString()


def test_the_refusal_carries_reason_and_retry_info() -> None:
    details = details_of(Trailing(Overloaded("busy", 1.5, limit="3")))
    assert (details.reason, details.retry_after, details.metadata) == (
        "OVERLOADED",
        1.5,
        {"limit": "3"},
    )


def test_retry_later_rounds_up_to_whole_seconds() -> None:
    assert retry_later(0.2) == "The orchestrator is busy: retry later (in about 1 s)"
    assert retry_later(2.5) == "The orchestrator is busy: retry later (in about 3 s)"
    assert retry_later(None) == "The orchestrator is busy: retry later"


@pytest.mark.parametrize("raw", ["0", "many", "-4"])
def test_a_bad_limit_fails_at_start_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SAGA_MAX_IN_FLIGHT"):
        OrchestratorConfig.from_env({"SAGA_MAX_IN_FLIGHT": raw})


def test_the_gate_knows_where_each_new_saga_rpc_carries_its_key() -> None:
    methods = pb.DESCRIPTOR.services_by_name["Orchestrator"].methods_by_name
    for name, at in NEW_SAGA_KEYS.items():
        fields = methods[name].input_type.fields_by_name
        assert (at.name in fields) == at.in_body, name
