"""A FastAGI server closes as interrupted only its own call records that it no longer runs."""

from __future__ import annotations

from datetime import timedelta

from ivr.db.models import Call, Disposition, utcnow
from ivr.db.session import session_scope
from ivr.domain.calls import CallJournal, NewCall, close_interrupted_calls


def _open(unique_id: str, agi_server: str) -> CallJournal:
    return CallJournal.open(NewCall(unique_id=unique_id, channel=f"PJSIP/{unique_id}", flow="hotline",
                                    ani="13700000001", caller_name="", dnis="95519", agi_server=agi_server))


def _dispositions() -> dict[str, Disposition]:
    with session_scope() as session:
        return {c.unique_id: c.disposition for c in session.query(Call)}


def test_a_server_closes_its_own_stale_records_and_leaves_running_and_other_servers_calls_alone(database_url):
    _open("1.1", "host:4573")
    mine_running = _open("1.2", "host:4573")
    _open("1.3", "host:4574")
    ended = _open("1.4", "host:4573")
    ended.close(Disposition.SELF_SERVED)

    closed = close_interrupted_calls("host:4573", {mine_running.call_pk}, utcnow() + timedelta(seconds=1))

    assert closed == 1
    assert _dispositions() == {"1.1": Disposition.INTERRUPTED, "1.2": Disposition.IN_PROGRESS,
                               "1.3": Disposition.IN_PROGRESS, "1.4": Disposition.SELF_SERVED}


def test_records_opened_after_the_cut_off_wait_for_the_next_round(database_url):
    _open("2.1", "host:4573")

    assert close_interrupted_calls("host:4573", (), utcnow() - timedelta(seconds=60)) == 0
    assert _dispositions() == {"2.1": Disposition.IN_PROGRESS}
