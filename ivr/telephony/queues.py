"""Agent queues over AMI: members in and out, pause, status, originate, and muting a call's recording.

The agent console calls this with values from its database (an agent's
interface, a queue name), so names are checked against strict patterns before
anything is sent, on top of ``encode_action``'s refusal of CR, LF and NUL.
Asterisk's "already there" and "not there" are successes here: logging an
agent in twice, or out twice, must not be an error for the console.

Works over an :class:`AmiClient` or an :class:`AmiLink` alike.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from ivr.telephony.ami import ActionEvents, AmiMessage, succeeded
from ivr.telephony.errors import AmiUnsafeValue

# Asterisk device states (include/asterisk/devicestate.h), as QueueMember's Status.
DEVICE_STATES = {
    0: "unknown", 1: "not_in_use", 2: "in_use", 3: "busy", 4: "invalid",
    5: "unavailable", 6: "ringing", 7: "ring_in_use", 8: "on_hold",
}
# OriginateResponse's Reason: the last control frame seen (include/asterisk/frame.h).
ORIGINATE_REASONS = {0: "failed", 1: "hung up", 3: "no answer", 4: "answered", 5: "busy", 8: "congestion"}

_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# PJSIP/agent1, Local/600@from-agents, PJSIP/+8613800138000@outbound: technology, then a
# resource without spaces or options (a leading + for an E.164 number through a trunk).
_INTERFACE = re.compile(r"^(?:PJSIP|Local)/[A-Za-z0-9+][A-Za-z0-9_.@+-]{0,79}$")
# An Originate's ChannelId (Asterisk uses it as the channel's uniqueid): a UUID or alike.
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
_EXTEN = re.compile(r"^[A-Za-z0-9+*#][A-Za-z0-9+*#_-]{0,79}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,79}$")
# Asterisk splits a Variable header on commas and reads quotes and backslashes.
_VARIABLE_VALUE_UNSAFE = re.compile(r'[,"\\]')

TRACKED_ORIGINATIONS = 200  # outcomes kept for await_originate
# A failed Originate's OriginateResponse says only "failed" for most causes (Asterisk 22 gives Reason 0
# for a 486 Busy Here), so await_originate also reports the channel's hangup cause (Q.850, the Hangup
# event's Cause), which may come just after the response.
HANGUP_CAUSE_WAIT_S = 1.0

_ALREADY_MEMBER = "Already there"
_NOT_MEMBER = "Not there"


class AmiActions(Protocol):
    """What queue control needs: an :class:`AmiClient` or an :class:`AmiLink`."""

    def send_action(self, action: Mapping[str, object], timeout: float | None = None) -> AmiMessage: ...

    def send_action_with_events(self, action: Mapping[str, object], until: str,
                                timeout: float | None = None) -> tuple[AmiMessage, ActionEvents]: ...

    def send_list_action(self, action: Mapping[str, object], complete_event: str,
                         timeout: float | None = None) -> tuple[AmiMessage, list[AmiMessage]]: ...

    def register_event(self, event: str, function: Callable[[AmiMessage], object]) -> None: ...


@dataclass(frozen=True)
class QueueMember:
    interface: str
    name: str
    status: str  # a DEVICE_STATES name: can the agent's phone take a call
    paused: bool
    paused_reason: str
    in_call: bool
    calls_taken: int
    last_call: datetime | None
    login_time: datetime | None


@dataclass(frozen=True)
class QueueEntry:
    """A caller waiting in a queue."""

    uniqueid: str
    channel: str
    caller_id_num: str
    caller_id_name: str
    position: int
    wait_s: int
    priority: int | None


@dataclass(frozen=True)
class QueueSnapshot:
    name: str
    calls_waiting: int
    completed: int
    abandoned: int
    service_level_s: int  # the threshold (queues.conf servicelevel)
    service_level_perf: float  # percent of completed calls answered within it
    hold_time_s: int  # average
    talk_time_s: int  # average
    members: tuple[QueueMember, ...]
    entries: tuple[QueueEntry, ...]


@dataclass(frozen=True)
class OriginateResult:
    success: bool
    reason: str  # an ORIGINATE_REASONS name, or "reason <n>"
    channel: str
    uniqueid: str
    cause: int | None = None  # a call not answered: its Q.850 hangup cause (17 busy, 1 unallocated ...), if heard


class QueueControl:
    """Queue membership, pause and status for the agent console, and call-back originate."""

    def __init__(self, ami: AmiActions) -> None:
        self.ami = ami
        self._lock = threading.Lock()
        # ActionID -> its OriginateResponse and ChannelId, kept for await_originate; oldest first.
        self._originating: OrderedDict[str, tuple[ActionEvents, str | None]] = OrderedDict()
        # ChannelId of a channel originated here -> its hangup cause once heard (None before).
        self._causes: OrderedDict[str, int | None] = OrderedDict()
        self._cause_heard = threading.Condition(self._lock)
        self._hearing_hangups = False

    def add_member(self, queue: str, interface: str, member_name: str,
                   paused: bool = False, reason: str = "") -> None:
        """Put an agent's phone in a queue; an agent already in it is left as is."""
        action = {"Action": "QueueAdd", "Queue": _checked(_QUEUE, "queue", queue),
                  "Interface": _checked(_INTERFACE, "interface", interface),
                  "MemberName": member_name, "Paused": _flag(paused)}
        if reason:
            action["Reason"] = reason
        self._run(action, tolerated=_ALREADY_MEMBER)

    def remove_member(self, queue: str, interface: str) -> None:
        """Take an agent's phone out of a queue; one already out is fine."""
        self._run({"Action": "QueueRemove", "Queue": _checked(_QUEUE, "queue", queue),
                   "Interface": _checked(_INTERFACE, "interface", interface)}, tolerated=_NOT_MEMBER)

    def pause_member(self, interface: str, paused: bool, reason: str = "", queue: str | None = None) -> None:
        """Pause or unpause an agent in ``queue``, or in every queue when ``queue`` is None.

        ``AmiActionError`` if the agent is in no such queue (Asterisk: "Interface not found").
        """
        action = {"Action": "QueuePause", "Interface": _checked(_INTERFACE, "interface", interface),
                  "Paused": _flag(paused)}
        if reason:
            action["Reason"] = reason
        if queue is not None:
            action["Queue"] = _checked(_QUEUE, "queue", queue)
        self._run(action)

    def status(self, queue: str | None = None) -> list[QueueSnapshot]:
        """Every queue (or one) with its members and waiting callers, as Asterisk has them now.

        An unknown queue gives an empty list.
        """
        action = {"Action": "QueueStatus"}
        if queue is not None:
            action["Queue"] = _checked(_QUEUE, "queue", queue)
        reply, events = self.ami.send_list_action(action, "QueueStatusComplete")
        succeeded(reply, "QueueStatus")
        return snapshots_from_events(events)

    def originate(self, channel: str, context: str, exten: str, caller_id: str,
                  variables: Mapping[str, str], timeout_s: int = 30, channel_id: str | None = None) -> str:
        """Ring ``channel`` (an agent's phone) and, when answered, send it to ``exten@context``.

        Returns the ActionID at once (Async originate); ``timeout_s`` is how
        long the phone rings. Pass the ActionID to :meth:`await_originate`,
        once, to learn the outcome; callers that do not care need not (only
        the last ``TRACKED_ORIGINATIONS`` outcomes are kept).
        Variables become channel variables: names are identifiers, values may
        not hold ``,``, ``"`` or ``\\`` (Asterisk would split or unquote them).
        ``channel_id`` becomes the new channel's uniqueid (``ChannelId``), so
        the call can be found again by it (:meth:`channel_exists`).
        """
        action = {"Action": "Originate", "Channel": _checked(_INTERFACE, "channel", channel),
                  "Context": _checked(_CONTEXT, "context", context),
                  "Exten": _checked(_EXTEN, "extension", exten), "Priority": "1",
                  "Async": "true", "Timeout": str(int(timeout_s * 1000)), "CallerID": caller_id,
                  "Variable": [_variable(name, value) for name, value in variables.items()]}
        if channel_id is not None:
            action["ChannelId"] = _checked(_CHANNEL_ID, "channel id", channel_id)
            self._hear_hangup_of(channel_id)
        reply, events = self.ami.send_action_with_events(action, "OriginateResponse")
        succeeded(reply, "Originate")
        with self._lock:
            self._originating[events.action_id] = (events, channel_id)
            while len(self._originating) > TRACKED_ORIGINATIONS:  # never awaited: forget the oldest
                forgotten, forgotten_id = self._originating.popitem(last=False)[1]
                forgotten.cancel()
                self._causes.pop(forgotten_id or "", None)
        return events.action_id

    def _hear_hangup_of(self, channel_id: str) -> None:
        """Keep the Hangup event's cause for ``channel_id`` (one handler for every channel)."""
        with self._lock:
            self._causes[channel_id] = None
            while len(self._causes) > TRACKED_ORIGINATIONS:
                self._causes.popitem(last=False)
            if self._hearing_hangups:
                return
            self._hearing_hangups = True
        self.ami.register_event("Hangup", self._on_hangup)

    def _on_hangup(self, event: AmiMessage) -> None:
        uniqueid, cause = event.get("Uniqueid") or "", _int(event.get("Cause"))
        with self._lock:
            if uniqueid in self._causes and cause:  # 0: no cause given
                self._causes[uniqueid] = cause
                self._cause_heard.notify_all()

    def await_originate(self, action_id: str, timeout: float) -> OriginateResult:
        """The outcome of :meth:`originate` ``action_id``: answered, or why not.

        Allow the ring time plus a few seconds. ``AmiTimeout`` if no outcome
        came in time (the call may still be ringing); ``AmiConnectionError``
        if Asterisk went away; ``KeyError`` for an ActionID not originated
        here or already awaited.
        """
        with self._lock:
            events, channel_id = self._originating.pop(action_id)
        response = events.wait(timeout)
        reason = _int(response.get("Reason"))
        cause = None if channel_id is None else self._hangup_cause(channel_id, wait=not response.is_success)
        return OriginateResult(success=response.is_success,
                               reason=ORIGINATE_REASONS.get(reason, f"reason {reason}"),
                               channel=response.get("Channel") or "",
                               uniqueid=response.get("Uniqueid") or "", cause=cause)

    def _hangup_cause(self, channel_id: str, wait: bool) -> int | None:
        """The channel's hangup cause (forgotten here), waiting a moment for its Hangup event when
        ``wait``; None if none came. An answered channel hangs up later: it is not waited for."""
        with self._lock:
            if wait:
                self._cause_heard.wait_for(lambda: self._causes.get(channel_id) is not None, HANGUP_CAUSE_WAIT_S)
            cause = self._causes.pop(channel_id, None)
            return None if not wait else cause

    def channel_exists(self, channel_id: str) -> bool:
        """Whether Asterisk still has the channel whose uniqueid is ``channel_id`` (an Originate's ChannelId).

        ``Status`` with ``Channel`` set: Asterisk looks the value up as a
        channel name, then as a uniqueid. It needs ``call`` or ``system``
        write permission, which the ``hotline`` manager user has.
        """
        action = {"Action": "Status", "Channel": _checked(_CHANNEL_ID, "channel id", channel_id)}
        reply, events = self.ami.send_list_action(action, "StatusComplete")
        if not reply.is_success and "no such channel" in (reply.get("Message") or "").lower():
            return False
        succeeded(reply, "Status")
        return any(event.name == "Status" for event in events)

    def mute_recording(self, channel_id: str, muted: bool) -> bool:
        """Mute (or unmute) both directions of the MixMonitor recording the channel whose uniqueid is
        ``channel_id``: muted audio is written as silence, so the files keep the call's timing.

        False when Asterisk has no such channel (the call has ended). A channel
        that is not being recorded is refused (``AmiActionError``). Needs
        ``call`` or ``system`` write permission.
        """
        action = {"Action": "MixMonitorMute", "Channel": _checked(_CHANNEL_ID, "channel id", channel_id),
                  "Direction": "both", "State": "1" if muted else "0"}
        reply = self.ami.send_action(action)
        if not reply.is_success and "no such channel" in (reply.get("Message") or "").lower():
            return False
        succeeded(reply, "MixMonitorMute")
        return True

    def _run(self, action: Mapping[str, object], tolerated: str | None = None) -> None:
        reply = self.ami.send_action(action)
        if tolerated and not reply.is_success and (reply.get("Message") or "").endswith(tolerated):
            return
        succeeded(reply, str(action["Action"]))


def snapshots_from_events(events: list[AmiMessage]) -> list[QueueSnapshot]:
    """Group QueueStatus's events (QueueParams, then its QueueMember and QueueEntry) by queue."""
    params: dict[str, AmiMessage] = {}
    members: dict[str, list[QueueMember]] = {}
    entries: dict[str, list[QueueEntry]] = {}
    for event in events:
        queue = event.get("Queue") or ""
        if event.name == "QueueParams":
            params[queue] = event
        elif event.name == "QueueMember":
            members.setdefault(queue, []).append(_member(event))
        elif event.name == "QueueEntry":
            entries.setdefault(queue, []).append(_entry(event))
    return [QueueSnapshot(name=name, calls_waiting=_int(event.get("Calls")),
                          completed=_int(event.get("Completed")), abandoned=_int(event.get("Abandoned")),
                          service_level_s=_int(event.get("ServiceLevel")),
                          service_level_perf=float(event.get("ServicelevelPerf") or 0),
                          hold_time_s=_int(event.get("Holdtime")), talk_time_s=_int(event.get("TalkTime")),
                          members=tuple(members.get(name, [])), entries=tuple(entries.get(name, [])))
            for name, event in params.items()]


def _member(event: AmiMessage) -> QueueMember:
    status = _int(event.get("Status"))
    return QueueMember(interface=event.get("Location") or "", name=event.get("Name") or "",
                       status=DEVICE_STATES.get(status, f"state {status}"),
                       paused=event.get("Paused") == "1", paused_reason=event.get("PausedReason") or "",
                       in_call=event.get("InCall") == "1", calls_taken=_int(event.get("CallsTaken")),
                       last_call=_epoch(event.get("LastCall")), login_time=_epoch(event.get("LoginTime")))


def _entry(event: AmiMessage) -> QueueEntry:
    priority = event.get("Priority")
    return QueueEntry(uniqueid=event.get("Uniqueid") or "", channel=event.get("Channel") or "",
                      caller_id_num=event.get("CallerIDNum") or "",
                      caller_id_name=event.get("CallerIDName") or "",
                      position=_int(event.get("Position")), wait_s=_int(event.get("Wait")),
                      priority=None if priority is None else _int(priority))


def _checked(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise AmiUnsafeValue(f"refused {what} {str(value)[:40]!r}: does not match {pattern.pattern}")
    return value


def _variable(name: str, value: str) -> str:
    _checked(_VARIABLE_NAME, "channel variable name", name)
    if _VARIABLE_VALUE_UNSAFE.search(value):
        raise AmiUnsafeValue(f"refused channel variable {name}: its value holds a comma, quote "
                             "or backslash, which Asterisk would read as a separator")
    return f"{name}={value}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _epoch(value: str | None) -> datetime | None:
    """Asterisk's epoch seconds; 0 means never."""
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds > 0 else None
