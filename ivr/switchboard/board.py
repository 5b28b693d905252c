"""The switchboard: one AMI link, the agent desk, the queue-event handlers and the wallboard.

``ivr web`` makes one and starts it; the Flask app reaches it as
``app.extensions["switchboard"]``. On every (re)connect it re-reads Asterisk's
queues: members are brought in line with the agents' record (an Asterisk
restart forgets dynamic members) and waits that ended unseen are closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ivr.config import get_settings
from ivr.db.models import CallbackStatus
from ivr.domain import call_recordings, callbacks, queue_calls, screen_pops
from ivr.domain.agent_states import AgentAction, AgentStatus
from ivr.domain.errors import InvalidTransition, ValidationError
from ivr.domain import agent_states
from ivr.switchboard.agent_desk import AgentDesk, AsteriskRefused, AsteriskUnavailable
from ivr.switchboard.queue_events import QueueEvents
from ivr.switchboard.signal import Signals
from ivr.switchboard.wallboard import Wallboard, build_wallboard
from ivr.telephony.ami_link import AmiLink, LinkStatus
from ivr.telephony.errors import AmiActionError, AmiConnectionError, AmiTimeout
from ivr.telephony.queues import QueueControl, QueueSnapshot

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0
STATUS_CACHE_SECONDS = 1.0  # wallboards refreshing together share one QueueStatus
# "Call back now": the agent's phone rings first; when they answer, this dialplan context dials the customer.
CALLBACK_CONTEXT = "hotline-callback"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Switchboard:
    def __init__(self, link: AmiLink, clock: Callable[[], datetime] = _utcnow) -> None:
        self.link = link
        self.queues = QueueControl(link)
        self.pops = Signals()  # per agent
        self._clock = clock
        self.desk = AgentDesk(self.queues, clock)
        self._events = QueueEvents(clock, self.pops.notify)
        for name, handler in self._events.subscriptions().items():
            link.register_event(name, handler)
        link.on_connected(self.resync)
        self._status_lock = threading.Lock()
        self._status_cache: tuple[float, list[QueueSnapshot]] | None = None
        self._stopping = threading.Event()
        self._resyncer = threading.Thread(target=self._resync_now_and_then, name="queue-resync", daemon=True)

    def start(self) -> None:
        self.link.start()
        self._resyncer.start()

    def stop(self) -> None:
        self._stopping.set()
        self.link.stop()
        if self._resyncer.is_alive():
            self._resyncer.join(STOP_SECONDS)

    def _resync_now_and_then(self) -> None:
        while not self._stopping.wait(get_settings().queue_resync_seconds):
            if not self.link.status().connected:
                continue  # the reconnect resyncs
            try:
                self.resync()
            except Exception:  # a dead database or a lost link: the next round tries again
                log.exception("periodic queue resync failed")

    def link_status(self) -> LinkStatus:
        return self.link.status()

    def resync(self) -> None:
        """After a (re)connect, and every ``queue_resync_seconds``: Asterisk's queue members in line
        with the record (an agent switched off, a change made while the link was down), waits that
        ended unseen closed."""
        seen_at = self._clock()
        snapshots = self.queues.status()
        self.desk.reconcile(snapshots)
        still_waiting = {entry.uniqueid for snapshot in snapshots for entry in snapshot.entries}
        closed = queue_calls.lost_unless_waiting(still_waiting, seen_at, self._clock())
        if closed:
            log.info("%d queue waits ended while the AMI link was down: marked lost", closed)
        with self._status_lock:
            self._status_cache = None

    def act(self, user_id: int, action: AgentAction, queues: tuple[str, ...] = (), reason: str = "") -> AgentStatus:
        status = self.desk.act(user_id, action, queues, reason)
        with self._status_lock:
            self._status_cache = None
        return status

    def wallboard(self) -> Wallboard:
        return build_wallboard(self._live_status(), self._clock())

    def _live_status(self) -> list[QueueSnapshot] | None:
        with self._status_lock:
            cached = self._status_cache
            if cached is not None and time.monotonic() - cached[0] < STATUS_CACHE_SECONDS:
                return cached[1]
            try:
                snapshots = self.queues.status()
            except (AmiConnectionError, AmiTimeout) as exc:
                log.debug("wallboard without live queue status: %s", exc)
                return None
            self._status_cache = (time.monotonic(), snapshots)
            return snapshots

    def call_back(self, user_id: int, callback_id: int) -> callbacks.CallbackView:
        """"Call back now": take the request (if not yet the agent's) and ring the agent's phone, which
        then dials the customer (dialplan ``[hotline-callback]``)."""
        agent = agent_states.status_of(user_id)
        if agent.interface is None:
            raise ValidationError(f"{agent.username} has no phone (sip_endpoint)", "agent_has_no_phone")
        request = callbacks.get_callback(callback_id)
        if request.status is CallbackStatus.OPEN:
            request = callbacks.claim_callback(callback_id, user_id, self._clock())
        elif request.status is not CallbackStatus.IN_PROGRESS or request.assigned_to != user_id:
            raise InvalidTransition(f"callback request {callback_id} is {request.status.value}"
                                    + (" with another agent" if request.assigned_to not in (None, user_id) else ""),
                                    "callback_not_yours")
        try:
            self.queues.originate(agent.interface, CALLBACK_CONTEXT, "s", f'"Callback" <{request.number}>',
                                  {"CALLBACK_NUMBER": request.number, "CALLBACK_ID": str(callback_id)})
        except (AmiConnectionError, AmiTimeout) as exc:
            raise AsteriskUnavailable(f"Asterisk cannot be reached ({exc}); the request stays yours") from exc
        except AmiActionError as exc:
            raise AsteriskRefused(f"Asterisk refused the call: {exc}") from exc
        log.info("callback %s: ringing %s to call %s", callback_id, agent.interface, request.number)
        return request

    def pause_recording(self, user_id: int, unique_id: str, paused: bool) -> bool:
        """Pause (``paused``) or resume the recording of a call put through to this agent, for a card
        number or another sensitive moment: MixMonitorMute, then the pause marked in the catalogue.
        Returns ``paused``."""
        if not screen_pops.reached(user_id, unique_id):
            raise InvalidTransition(f"call {unique_id!r} was not put through to you", "not_your_call")
        verb = "pause" if paused else "resume"
        try:
            present = self.queues.mute_recording(unique_id, paused)
        except (AmiConnectionError, AmiTimeout) as exc:
            raise AsteriskUnavailable(f"Asterisk cannot be reached ({exc}); the recording goes on") from exc
        except AmiActionError as exc:
            raise AsteriskRefused(f"Asterisk could not {verb} the recording: {exc}") from exc
        if not present:
            raise InvalidTransition(f"call {unique_id} has ended", "call_ended")
        now = self._clock()
        if paused:
            call_recordings.pause_recording(unique_id, user_id, now)
        else:
            call_recordings.resume_recording(unique_id, user_id, now)
        log.info("recording %sd by console user %s", verb, user_id, extra={"unique_id": unique_id})
        return paused
