"""A fake AMI peer for the switchboard and the dialer: it keeps queue members as Asterisk 22 would,
emits queue events on demand, answers Originate with an OriginateResponse and Status by
ChannelId, so the agent desk and the dialer run without Asterisk.

Shared by the unit tests (tests/test_agent_desk.py, tests/test_dialer.py) and the screen-pop
benchmark (bench/screen_pop.py). ``emit`` runs the registered handlers in the caller's
thread, as the real link runs them on its single event thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from ivr.telephony.ami import AmiMessage
from ivr.telephony.ami_link import LinkStatus
from ivr.telephony.errors import AmiNotSent

QUEUES = ("agents", "vip", "claims", "complaints")  # Asterisk's queue names (queues.conf)


class FakeAsterisk:
    """Answers the console's AMI actions as Asterisk 22 does and keeps the queue members."""

    def __init__(self, connected_at: datetime | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.members: dict[tuple[str, str], dict[str, str]] = {}  # (queue, interface) -> headers
        self.up = True
        self.connected_at = connected_at or datetime.now(timezone.utc)
        self.callbacks: dict[str, list[Callable[[AmiMessage], None]]] = {}
        self.hooks: list[Callable[[], object]] = []
        # Dialer: the OriginateResponse reason per number called (ORIGINATE_REASONS code; 4 answered),
        # and the ChannelIds of the channels that exist now (an answered call's stays until hangup).
        self.originate_reasons: dict[str, int] = {}
        # ... and the Hangup event's Cause (Q.850) sent before the response of a call not answered.
        self.originate_causes: dict[str, int] = {}
        self.channels: set[str] = set()
        self._lock = threading.Lock()

    # -- the AmiLink surface the switchboard uses --
    def register_event(self, name: str, callback: Callable[[AmiMessage], None]) -> None:
        self.callbacks.setdefault(name, []).append(callback)

    def on_connected(self, hook: Callable[[], object]) -> None:
        self.hooks.append(hook)

    def start(self) -> None:
        for hook in self.hooks:
            hook()

    def stop(self) -> None:
        self.up = False

    def status(self) -> LinkStatus:
        return LinkStatus(self.up, self.connected_at, 0, "")

    def send_action(self, action: Mapping[str, Any], timeout: float | None = None) -> AmiMessage:
        if not self.up:
            raise AmiNotSent("AMI action not sent: link down")
        with self._lock:
            self.sent.append(dict(action))
        name, key = action["Action"], (action.get("Queue", ""), action.get("Interface", ""))
        if name == "QueueAdd":
            if key in self.members:
                return _reply("Error", "Unable to add interface: Already there")
            self.members[key] = {"Paused": "1" if action.get("Paused") == "true" else "0",
                                 "PausedReason": action.get("Reason", "")}
        elif name == "QueueRemove":
            if self.members.pop(key, None) is None:
                return _reply("Error", "Unable to remove interface: Not there")
        elif name in ("Status", "MixMonitorMute") and action.get("Channel") not in self.channels:
            return _reply("Error", "No such channel")
        elif name == "QueuePause":
            for (queue, interface), member in self.members.items():
                if interface == action["Interface"] and action.get("Queue", queue) == queue:
                    member.update(Paused="1" if action["Paused"] == "true" else "0",
                                  PausedReason=action.get("Reason", ""))
        return _reply("Success", "")

    def send_list_action(self, action: Mapping[str, Any], complete_event: str,
                         timeout: float | None = None) -> tuple[AmiMessage, list[AmiMessage]]:
        reply = self.send_action(action)
        if action["Action"] == "Status":
            events = [AmiMessage([("Event", "Status"), ("Uniqueid", action["Channel"])])] if reply.is_success else []
            return reply, events
        events = [AmiMessage([("Event", "QueueParams"), ("Queue", queue)]) for queue in QUEUES]
        events += [AmiMessage([("Event", "QueueMember"), ("Queue", queue), ("Location", interface), ("Status", "1"),
                               *member.items()]) for (queue, interface), member in self.members.items()]
        return _reply("Success", "Queue status will follow"), events

    def send_action_with_events(self, action: Mapping[str, Any], until: str,
                                timeout: float | None = None) -> tuple[AmiMessage, Any]:
        reply = self.send_action(action)
        action_id = f"fake-{len(self.sent)}"
        if action["Action"] != "Originate":
            return reply, SimpleNamespace(action_id=action_id)
        number = str(action["Channel"]).split("/", 1)[1].split("@", 1)[0]
        reason = self.originate_reasons.get(number, 4)
        if reason == 4 and action.get("ChannelId"):
            self.channels.add(str(action["ChannelId"]))
        if reason != 4 and number in self.originate_causes:
            self.emit("Hangup", Uniqueid=str(action.get("ChannelId", "")), Cause=str(self.originate_causes[number]))
        response = AmiMessage([("Event", "OriginateResponse"), ("Response", "Success" if reason == 4 else "Failure"),
                               ("Channel", str(action["Channel"])), ("Reason", str(reason)),
                               ("Uniqueid", str(action.get("ChannelId", "")))])
        return reply, SimpleNamespace(action_id=action_id, wait=lambda timeout=None: response, cancel=lambda: None)

    def originates(self) -> list[dict[str, Any]]:
        """The Originate actions sent, in order."""
        return [action for action in self.sent if action["Action"] == "Originate"]

    # -- what Asterisk would tell the console --
    def emit(self, name: str, **headers: str) -> None:
        event = AmiMessage([("Event", name), *headers.items()])
        for callback in self.callbacks.get(name, []):
            callback(event)


def _reply(response: str, message: str) -> AmiMessage:
    return AmiMessage([("Response", response), ("Message", message)])
