"""AmiLink keeps one AMI connection up: reconnects with backoff, hooks after each login.

Asterisk's side is a replay server (tests/fixtures/ami/); each new connection
replays the script from the start, as a restarted Asterisk would greet anew.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from ivr.config import get_settings
from ivr.telephony.ami import AmiMessage
from ivr.telephony.ami_link import AmiLink, Backoff
from ivr.telephony.errors import AmiConnectionError
from ivr.testing.ami_replay import RECORDED_SECRET

QUICK = Backoff(initial=0.05, cap=0.2, jitter=0.0)


@pytest.fixture
def links() -> Iterator[Callable[..., AmiLink]]:
    """``links(port)``: an AmiLink to 127.0.0.1:port, stopped after the test."""
    made: list[AmiLink] = []

    def new(port: int, backoff: Backoff = QUICK, boot_timeout: float = 2) -> AmiLink:
        settings = get_settings().replace(asterisk_host="127.0.0.1", ami_port=port, ami_user="hotline",
                                          ami_secret=RECORDED_SECRET)
        link = AmiLink(settings, backoff=backoff, connect_timeout=1, boot_timeout=boot_timeout)
        made.append(link)
        return link

    yield new
    for link in made:
        link.stop(timeout=2)


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


def test_backoff_doubles_from_half_a_second_to_a_cap_of_thirty_with_jitter():
    exact = Backoff(jitter=0.0)
    assert [exact.delay(attempt) for attempt in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    spread = [Backoff().delay(3) for _ in range(200)]
    assert all(1.6 <= delay <= 2.4 for delay in spread)
    assert len(set(spread)) > 1


def test_link_reconnects_after_asterisk_drops_it_and_runs_the_hooks_again(replay, links):
    server = replay("restart_after_login")
    link = links(server.port)
    pongs: list[AmiMessage] = []
    events: list[AmiMessage] = []
    link.on_connected(lambda: pongs.append(link.send_action({"Action": "Ping"}, timeout=2)))
    link.register_event("QueueMemberStatus", events.append)

    link.start()
    wait_until(lambda: link.status().reconnects >= 2 and len(events) >= 3)

    assert server.connections >= 3
    assert len(pongs) >= 3 and all(pong["Ping"] == "Pong" for pong in pongs)
    assert "closed the connection" in link.status().last_error


def test_status_tells_when_and_why_the_link_is_up_or_down(replay, links):
    server = replay("booting_then_pings")
    link = links(server.port)
    assert link.status().since is None

    link.start()
    wait_until(lambda: link.status().connected)
    up = link.status()
    server.stop()  # Asterisk goes away for good
    wait_until(lambda: not link.status().connected)
    down = link.status()

    assert (up.reconnects, up.last_error) == (0, "")
    assert down.since is not None and up.since is not None and down.since >= up.since
    assert "closed the connection" in down.last_error


def test_hooks_wait_until_asterisk_has_booted(replay, links):
    # A restarted Asterisk takes logins before app_queue is loaded: QueueAdd would be unknown.
    server = replay("booting_then_pings")
    link = links(server.port)
    ran: list[float] = []
    link.on_connected(lambda: ran.append(time.monotonic()))

    started = time.monotonic()
    link.start()
    wait_until(lambda: ran)

    assert ran[0] - started >= 0.3


def test_an_asterisk_that_never_says_fully_booted_is_retried_with_a_hint(replay, links):
    server = replay("logged_in_silent")
    link = links(server.port, boot_timeout=0.2)
    ran: list[str] = []
    link.on_connected(lambda: ran.append("hook"))

    link.start()
    wait_until(lambda: server.connections >= 2)

    assert not link.status().connected and ran == []
    assert "FullyBooted" in link.status().last_error and "read=system" in link.status().last_error


def test_actions_fail_at_once_while_asterisk_cannot_be_reached(links, caplog):
    caplog.set_level(logging.INFO, logger="ivr.telephony.ami_link")
    link = links(unused_port())
    link.start()
    wait_until(lambda: "retrying" in caplog.text and link.status().last_error)

    started = time.monotonic()
    with pytest.raises(AmiConnectionError, match="link to 127.0.0.1:.* is down .*cannot reach AMI"):
        link.send_action({"Action": "Ping"}, timeout=30)
    with pytest.raises(AmiConnectionError, match="is down"):
        link.send_list_action({"Action": "QueueStatus"}, "QueueStatusComplete", timeout=30)
    assert time.monotonic() - started < 0.5
    assert not link.status().connected
    assert "AMI link retrying: peer=127.0.0.1" in caplog.text and "delay=0.05s" in caplog.text


def test_a_hook_that_raises_is_logged_and_the_next_hooks_still_run(replay, links, caplog):
    server = replay("booting_then_pings")
    link = links(server.port)
    ran: list[str] = []
    link.on_connected(lambda: 1 / 0)
    link.on_connected(lambda: ran.append(link.send_action({"Action": "Ping"})["Ping"]))

    link.start()
    wait_until(lambda: ran)

    assert ran == ["Pong"] and link.status().connected
    assert "on_connected hook" in caplog.text and "ZeroDivisionError" in caplog.text


def test_stop_returns_promptly_even_during_a_long_backoff(links):
    link = links(unused_port(), backoff=Backoff(initial=30, jitter=0.0))
    link.start()
    wait_until(lambda: link.status().last_error)

    started = time.monotonic()
    link.stop(timeout=5)

    assert time.monotonic() - started < 1
    assert not link._supervisor.is_alive()


def test_stop_logs_off_and_the_link_stays_down(replay, links):
    server = replay("booting_then_pings")
    link = links(server.port)
    link.start()
    wait_until(lambda: link.status().connected)

    link.stop()

    assert server.wait_received(2)[-1]["Action"] == "Logoff"
    assert not link.status().connected and link.status().last_error == ""
    assert server.connections == 1
