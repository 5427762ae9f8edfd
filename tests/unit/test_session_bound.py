"""The orchestrator's PostgreSQL session bound, and the test hooks' guard (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagakit import testhooks
from sagakit.config import ConfigError
from sagakit.pgsession import SessionBound


def test_the_bound_sets_every_timeout_from_one_figure() -> None:
    bound = SessionBound(5.0)
    settings = dict(bound.settings(150000))
    assert settings["idle_in_transaction_session_timeout"] == "5000"
    assert settings["tcp_user_timeout"] == "5000"
    assert settings["tcp_keepalives_idle"] == "2"
    assert "transaction_timeout" not in settings  # PostgreSQL 15 has none
    assert dict(bound.settings(170000))["transaction_timeout"] == "5000"
    assert bound.client_params()["tcp_user_timeout"] == 5000
    assert bound.client_params()["keepalives"] == 1


def test_a_short_bound_still_keeps_probes_at_one_second_at_least() -> None:
    assert SessionBound(0.4).keepalive_idle == 1
    assert dict(SessionBound(0.4).settings(150000))["idle_in_transaction_session_timeout"] == "400"


def test_test_hooks_are_refused_outside_a_test_set_up(tmp_path: Path) -> None:
    env = {testhooks.VAR: str(tmp_path)}
    with pytest.raises(ConfigError, match=r"FLIGHTSAGA_TEST_HOOKS.*FAULT_INJECTION=enabled"):
        testhooks.folder_from_env(env, fault_injection=False)
    assert testhooks.folder_from_env(env, fault_injection=True) == tmp_path
    assert testhooks.folder_from_env({}, fault_injection=True) is None
    with pytest.raises(ConfigError, match="existing folder"):
        testhooks.folder_from_env({testhooks.VAR: str(tmp_path / "nope")}, fault_injection=True)


def test_an_unarmed_point_does_nothing_and_an_armed_hang_waits_for_release(
    tmp_path: Path,
) -> None:
    testhooks.arm(tmp_path)
    try:
        testhooks.point("somewhere")  # not armed: returns at once
        (tmp_path / "somewhere").write_text("hang")
        (tmp_path / "somewhere.release").write_text("")
        testhooks.point("somewhere")
        assert (tmp_path / "somewhere.reached").exists()
        assert not (tmp_path / "somewhere").exists()  # fired once
    finally:
        testhooks.arm(None)
