"""AMI client: actions with their own replies, events by name or predicate.

pyst2 (``asterisk.manager.Manager``) is the chosen AMI library. Its 0.5.1
transport is unsound, so ``AmiClient`` subclasses ``Manager``, keeps its
action catalogue (``logoff``, ``hangup``, ``redirect``, ``status``,
``extension_state``, ``dbget`` ... which only build a dict and call
``send_action``) and replaces the rest. Each point is pinned by a test in
``tests/test_ami.py``:

* ``send_action(cdict={})`` shared one mutable default and wrote the ActionID
  into it (and into the caller's dict), so ActionIDs repeated. Here the
  caller's mapping is never changed; every action gets a fresh ActionID from a
  per-client random prefix and a counter.
* replies came off one FIFO queue with no timeout: concurrent senders took
  each other's replies and a lost reply hung the caller forever. Here a reply
  goes to the sender whose ActionID it carries, and waiting has a time limit
  (:class:`AmiTimeout`).
* header values went out raw: a CR or LF in one (a caller's number, a
  channel variable) injects headers or whole actions. Here any CR, LF or NUL
  in a header name or value is refused before anything is sent.
* message framing switched on text anywhere in a line (``status will
  follow``, ``--END COMMAND--``), so a value could merge messages; repeated
  headers overwrote each other (a command's ``Output:`` lines kept only the
  last); ``ChanVariable`` headers crashed the reader on Python 3
  (``dict.has_key``); it read one byte per system call. Here a message ends
  at an empty line and nothing else: see :class:`MessageReader`.
* no connect timeout, no greeting timeout; a reply awaited on a connection
  that had just died waited forever; ``close()`` sent ``Logoff`` and waited
  for it without a limit, then joined a reader blocked in ``recv``. Here
  losing the connection fails every waiter at once, and ``close()`` is bounded.
* a callback that raised ended event dispatch for good. Here it is logged and
  dispatch goes on. Callbacks run on their own thread, so they may send
  actions; they receive the event only (pyst2 passed ``(event, manager)``).

``Manager.__init__`` is not called: it only builds that transport (threads
that can start once, so no reconnect). Here threads are made per
``connect()``, so a client can connect again after losing Asterisk, keeping
its callbacks and its ActionID sequence. Asterisk 22 is the target: CLI output
arrives as ``Output:`` headers (not the pre-14 ``Response: Follows`` form).
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping

from asterisk.manager import Manager

from ivr.config import Settings, get_settings
from ivr.telephony.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiTimeout,
    AmiUnsafeValue,
)

log = logging.getLogger(__name__)

EOL = b"\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
DEFAULT_TIMEOUT = 10.0  # seconds for one action's reply
CONNECT_TIMEOUT = 5.0  # seconds to connect and read the greeting
CLOSE_TIMEOUT = 2.0  # seconds close() waits for Logoff, then for each thread
SEND_TIMEOUT = 10.0  # a write stuck this long means the peer is gone
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # `dialplan show` output is large, not this large
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_UNSAFE = re.compile(r"[\r\n\x00]")
# TCP keepalive: an idle connection to a vanished host is declared dead in ~1 min.
_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}

EventCallback = Callable[["AmiMessage"], object]
EventPredicate = Callable[["AmiMessage"], bool]
LostCallback = Callable[[str], object]


class AmiMessage:
    """One AMI message (a response or an event): its headers, in order, repeats kept.

    Header names are looked up case-insensitively, as Asterisk reads them.
    Values are untrusted text (Asterisk escapes control characters in event
    values, but a value is still whatever a caller or trunk sent).
    """

    __slots__ = ("headers", "data", "_index")

    def __init__(self, headers: list[tuple[str, str]], data: str = "") -> None:
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        self.data = data  # lines that were not "Name: value" (none from Asterisk 22)
        self._index: dict[str, list[str]] = {}
        for name, value in self.headers:
            self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``."""
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of a repeated header (``Output``, ``ChanVariable``), in order."""
        return list(self._index.get(name.lower(), []))

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    # pyst2's ManagerMsg names, for code written against it.
    get_header = get
    has_header = __contains__

    @property
    def is_event(self) -> bool:
        # OriginateResponse carries Event, Response and ActionID: it is an event.
        return "Event" in self

    @property
    def name(self) -> str:
        """The event name (``Hangup``), or ``''`` for a response."""
        return self.get("Event", "") or ""

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def is_success(self) -> bool:
        return (self.get("Response") or "").lower() == "success"

    def __repr__(self) -> str:
        kind = f"Event: {self.name}" if self.is_event else f"Response: {self.get('Response')}"
        return f"<AmiMessage {kind} ActionID={self.action_id}>"


def parse_message(lines: list[str]) -> AmiMessage:
    """Turn the lines of one message (without their CRLF) into an ``AmiMessage``.

    Splits each line on the first ``:`` and drops the one space Asterisk writes
    after it; anything else in the value (spaces, colons, escaped newlines) is kept.
    """
    headers: list[tuple[str, str]] = []
    stray: list[str] = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.match(name.strip()):
            stray.append(line)
            continue
        headers.append((name.strip(), value[1:] if value.startswith(" ") else value))
    return AmiMessage(headers, "\n".join(stray))


class MessageReader:
    """Splits the byte stream from Asterisk into the greeting line and messages.

    Without sockets, so every framing case is testable byte by byte. A line
    ends at CRLF only (a bare LF belongs to the value) and a message ends at an
    empty line, whatever the values say.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._start = 0
        self._lines: list[str] = []
        self._message_bytes = 0
        self._max = max_message_bytes

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def _next_line(self) -> bytes | None:
        end = self._buffer.find(EOL, self._start)
        if end < 0:
            if len(self._buffer) - self._start + self._message_bytes > self._max:
                raise AmiConnectionError(f"AMI message longer than {self._max} bytes")
            return None
        line = bytes(self._buffer[self._start:end])
        self._start = end + len(EOL)
        return line

    def _compact(self) -> None:
        del self._buffer[:self._start]
        self._start = 0

    def banner(self) -> str | None:
        """The greeting line (``Asterisk Call Manager/11.0.0``) once it has arrived."""
        line = self._next_line()
        self._compact()
        return None if line is None else _decode(line)

    def messages(self) -> list[AmiMessage]:
        """Every message completed by the bytes fed so far."""
        complete: list[AmiMessage] = []
        while (line := self._next_line()) is not None:
            if line:
                self._lines.append(_decode(line))
                self._message_bytes += len(line) + len(EOL)
            elif self._lines:  # blank lines between messages are not messages
                complete.append(parse_message(self._lines))
                self._lines, self._message_bytes = [], 0
        self._compact()
        return complete


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def encode_action(action: Mapping[str, object], action_id: str) -> bytes:
    """The bytes of one action, ``Action`` first, then ``ActionID``, then the rest.

    A list or tuple value becomes a repeated header (``Variable: a=1``,
    ``Variable: b=2``). Refuses CR, LF and NUL in any name or value: they would
    end the header early and let the rest be read as new headers or actions.
    """
    for name in action:
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise AmiUnsafeValue(f"invalid AMI header name {str(name)[:40]!r}")
        if name.lower() == "actionid":
            raise ValueError("ActionID is assigned by AmiClient, one per action")
    if "Action" not in action:
        raise ValueError(f"an AMI action needs an 'Action' header: {sorted(action)}")
    lines = [f"Action: {_header_value('Action', action['Action'])}", f"ActionID: {action_id}"]
    for name, value in action.items():
        if name == "Action":
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        lines.extend(f"{name}: {_header_value(name, item)}" for item in values)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _header_value(name: str, value: object) -> str:
    if value is None or isinstance(value, (dict, set, bytes)):
        raise TypeError(f"AMI header {name!r} needs text, got {type(value).__name__}")
    text = str(value)
    if _UNSAFE.search(text):
        # The value itself is not shown: it may be a secret.
        raise AmiUnsafeValue(f"AMI header {name!r} contains CR, LF or NUL; refused, "
                             "it would inject headers or actions")
    return text


class _Pending:
    """One action waiting for its reply."""

    __slots__ = ("done", "reply", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: AmiMessage | None = None
        self.error: AmiError | None = None

    def resolve(self, reply: AmiMessage | None = None, error: AmiError | None = None) -> None:
        self.reply, self.error = reply, error
        self.done.set()


class EventWaiter:
    """Catches the first event matching a name and a predicate, from its creation on.

    Made by :meth:`AmiClient.expect_event` *before* the action that causes the
    event, so an event that arrives quickly is not missed.
    """

    def __init__(self, client: "AmiClient", name: str, predicate: EventPredicate | None) -> None:
        self._client = client
        self.name = name
        self.predicate = predicate
        self._pending = _Pending()

    def offer(self, event: AmiMessage) -> bool:
        """Called by the reader thread for each event; keep predicates cheap."""
        if self._pending.done.is_set() or self.name not in ("*", event.name):
            return False
        try:
            matched = self.predicate is None or bool(self.predicate(event))
        except Exception:  # a predicate's bug must not stop the reader
            log.exception("AMI event predicate failed on %s", event.name)
            return False
        if matched:
            self._pending.resolve(event)
            self.cancel()  # caught: stop looking now, even if nobody ever waits
        return matched

    def cancel(self) -> None:
        """Stop looking for the event (a caller that no longer wants it)."""
        self._client._remove_waiter(self)

    def __enter__(self) -> "EventWaiter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

    def fail(self, error: AmiError) -> None:
        if not self._pending.done.is_set():
            self._pending.resolve(error=error)

    def wait(self, timeout: float) -> AmiMessage:
        """The matching event; ``AmiTimeout`` or ``AmiConnectionError`` otherwise."""
        try:
            if not self._pending.done.wait(timeout):
                raise AmiTimeout(f"no AMI event {self.name} matching the condition within {timeout} s")
            if self._pending.error is not None:
                raise self._pending.error
            assert self._pending.reply is not None
            return self._pending.reply
        finally:
            self.cancel()


class ActionEvents(EventWaiter):
    """The events an action sends under its own ActionID, up to the one named ``until``.

    List actions (``QueueStatus``, ``CoreShowChannels`` ...) answer "will follow",
    then send one event per item and a closing event (``QueueStatusComplete``);
    an Async ``Originate`` sends one ``OriginateResponse``. Made by
    :meth:`AmiClient.send_action_with_events` before the action is sent: the
    events come right behind the reply, often in the same packet.
    """

    def __init__(self, client: "AmiClient", action_id: str, until: str) -> None:
        super().__init__(client, until, lambda event: event.action_id == action_id)
        self.action_id = action_id
        self.items: list[AmiMessage] = []  # the events before the closing one, in order

    def offer(self, event: AmiMessage) -> bool:
        if event.action_id == self.action_id and event.name != self.name and not self._pending.done.is_set():
            self.items.append(event)
            return True
        return super().offer(event)


class AmiClient(Manager):
    """A connection to Asterisk's manager interface, safe to share between threads.

    ``connect`` and ``login`` (or :func:`connect_ami`), then ``send_action``,
    ``send_list_action`` (``QueueStatus`` and other lists), ``ping``,
    ``command``; ``register_event`` for callbacks, ``expect_event`` and
    ``wait_for_event`` to wait for one event; ``on_connection_lost`` to hear
    of a loss at once. ``close`` always returns. A process that must stay
    connected uses :class:`ivr.telephony.ami_link.AmiLink` around one.
    """

    def __init__(self, default_timeout: float = DEFAULT_TIMEOUT, name: str = "hotline") -> None:
        # Manager.__init__ is deliberately not called: see the module docstring.
        self.default_timeout = default_timeout
        self.action_id_prefix = f"{name}-{secrets.token_hex(4)}-"
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()  # connection state, pending actions, waiters, callbacks
        self._send_lock = threading.Lock()  # one action on the wire at a time
        self._sock: socket.socket | None = None
        self._alive = False
        self._logged_in = False
        self._closing = False
        self._lost_reason = "not connected"
        self._pending: dict[str, _Pending] = {}
        self._waiters: list[EventWaiter] = []
        self._callbacks: dict[str, list[EventCallback]] = {}
        self._lost_callbacks: list[LostCallback] = []
        self._reader: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None
        self.peer = ""
        self.banner = ""
        self.title: str | None = None  # pyst2's names for the greeting's parts
        self.version: str | None = None

    def __del__(self) -> None:
        # pyst2's __del__ called close(), which could block at garbage collection.
        # Our threads hold the client while connected, so nothing is left to do here.
        pass

    # -- connection -----------------------------------------------------------

    def connected(self) -> bool:
        return self._alive

    @property
    def disconnect_reason(self) -> str:
        """Why the client is not connected (meaningful when ``connected()`` is False)."""
        return self._lost_reason

    def connect(self, host: str, port: int = 5038, timeout: float = CONNECT_TIMEOUT) -> str:
        """Open the TCP connection and read Asterisk's greeting; returns the greeting."""
        if self._alive:
            raise AmiError(f"already connected to AMI at {self.peer}")
        peer = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout)
        except OSError as exc:
            raise AmiConnectionError(f"cannot reach AMI at {peer}: {exc}") from exc
        reader = MessageReader()
        try:
            banner = _read_banner(sock, reader, peer, timeout)
            _enable_keepalive(sock)
            sock.settimeout(SEND_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        self._start(sock, reader, peer, banner)
        log.info("AMI connected to %s (%s)", peer, banner)
        return banner

    def _start(self, sock: socket.socket, reader: MessageReader, peer: str, banner: str) -> None:
        self.peer, self.banner = peer, banner
        self.title, _, self.version = banner.partition("/")
        events: queue.SimpleQueue[AmiMessage | None] = queue.SimpleQueue()  # reader -> dispatcher
        with self._lock:
            self._sock, self._alive, self._closing, self._logged_in = sock, True, False, False
            self._lost_reason = ""
        self._reader = threading.Thread(target=self.message_loop, args=(sock, reader, events),
                                        name=f"ami-reader-{peer}", daemon=True)
        self._dispatcher = threading.Thread(target=self.event_dispatch, args=(events,),
                                            name=f"ami-events-{peer}", daemon=True)
        self._reader.start()
        self._dispatcher.start()

    def login(self, username: str, secret: str, timeout: float | None = None) -> AmiMessage:
        """Log in with a plain-text secret; ``AmiAuthError`` if Asterisk refuses."""
        reply = self.send_action({"Action": "Login", "Username": username, "Secret": secret}, timeout)
        if not reply.is_success:
            self._abort("login refused")
            self.close()  # Asterisk hangs up after a failed login anyway
            raise AmiAuthError(f"AMI at {self.peer} refused login as {username!r}: "
                               f"{reply.get('Message') or reply.get('Response')}")
        self._logged_in = True
        return reply

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Log off if possible, drop the connection and stop the threads, in bounded time."""
        with self._lock:
            self._closing = True
            say_goodbye = self._alive and self._logged_in
        if say_goodbye:
            try:
                self.send_action({"Action": "Logoff"}, timeout=timeout)
            except AmiError as exc:  # going away anyway; the socket is shut below
                log.debug("AMI logoff from %s failed: %s", self.peer, exc)
        self._abort("closed by the client")
        current = threading.current_thread()
        for thread in (self._reader, self._dispatcher):
            # ident is None for a thread connect() made but has not started yet (close() from another
            # thread in that instant): it starts on a shut socket and ends by itself.
            if thread is not None and thread is not current and thread.ident is not None:
                thread.join(timeout)

    def _abort(self, reason: str, sock: socket.socket | None = None) -> None:
        """Shut the socket down: the reader wakes, fails every waiter and ends."""
        with self._lock:
            current = self._sock
            sock = sock or current
            if self._alive and sock is current and not self._lost_reason:
                self._lost_reason = reason
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already shut or never connected: the reader ends either way

    # -- actions --------------------------------------------------------------

    def next_seq(self) -> int:
        return next(self._sequence)

    def next_action_id(self) -> str:
        """A fresh ActionID: this client's random prefix and a counter.

        The random part also keeps text injected into an event from posing as
        the reply to an action in flight.
        """
        return f"{self.action_id_prefix}{self.next_seq()}"

    def send_action(self, action: Mapping[str, object],  # type: ignore[override]
                    timeout: float | None = None) -> AmiMessage:
        """Send one action and return the reply that carries its ActionID.

        ``timeout`` defaults to ``default_timeout``. Raises ``AmiUnsafeValue``
        (nothing sent), ``AmiTimeout`` (the connection stays usable; a late
        reply is dropped) or ``AmiConnectionError``. A ``Response: Error``
        reply is returned, not raised: check ``is_success``.
        """
        return self._send(action, self.next_action_id(), timeout)

    def send_action_with_events(self, action: Mapping[str, object], until: str,
                                timeout: float | None = None) -> tuple[AmiMessage, ActionEvents]:
        """Send one action and start collecting the events it sends under its ActionID.

        Returns the reply and an :class:`ActionEvents`; ``wait(timeout)`` on it
        gives the event named ``until``, and ``items`` the events before it.
        For an Async ``Originate`` the wait can be long, so it is the caller's.
        If the reply is an error no events follow: the collector is already
        stopped and must not be waited on.
        """
        action_id = self.next_action_id()
        events = ActionEvents(self, action_id, until)
        self._add_waiter(events)
        try:
            reply = self._send(action, action_id, timeout)
        except BaseException:
            events.cancel()
            raise
        if not reply.is_success:
            events.cancel()
        return reply, events

    def send_list_action(self, action: Mapping[str, object], complete_event: str,
                         timeout: float | None = None) -> tuple[AmiMessage, list[AmiMessage]]:
        """Send a list action; return its reply and the events of the list, in order.

        The list ends with ``complete_event`` (``QueueStatusComplete``), which
        is not included. ``timeout`` covers the reply and the whole list. An
        error reply is returned at once with no events (check ``is_success``);
        ``AmiTimeout`` if the list does not end in time, ``AmiConnectionError``
        if the connection is lost on the way.
        """
        wait = self.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        reply, events = self.send_action_with_events(action, complete_event, wait)
        if not reply.is_success:
            return reply, []
        events.wait(max(deadline - time.monotonic(), 0.0))
        return reply, events.items

    def _send(self, action: Mapping[str, object], action_id: str, timeout: float | None) -> AmiMessage:
        wait = self.default_timeout if timeout is None else timeout
        payload = encode_action(action, action_id)
        name = action["Action"]
        pending = _Pending()
        with self._lock:
            if not self._alive:
                raise AmiConnectionError(f"AMI action {name} not sent: not connected ({self._lost_reason})")
            self._pending[action_id] = pending
            sock = self._sock
        assert sock is not None
        try:
            self._write(sock, payload)
        except AmiConnectionError:
            self._forget(action_id)
            raise
        if not pending.done.wait(wait):
            self._forget(action_id)
            if not pending.done.is_set():
                raise AmiTimeout(f"no reply to AMI action {name} ({action_id}) from {self.peer} "
                                 f"within {wait} s")
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    def _write(self, sock: socket.socket, payload: bytes) -> None:
        with self._send_lock:
            try:
                sock.sendall(payload)
            except OSError as exc:  # a timed-out write may be half sent: the stream is lost
                self._abort(f"write failed: {exc}", sock)
                raise AmiConnectionError(f"cannot send to AMI at {self.peer}: {exc}") from exc

    def _forget(self, action_id: str) -> None:
        with self._lock:
            self._pending.pop(action_id, None)

    def ping(self, timeout: float | None = None) -> AmiMessage:  # type: ignore[override]
        """``Action: Ping``: proves the connection and the login are alive."""
        return succeeded(self.send_action({"Action": "Ping"}, timeout), "Ping")

    def command(self, cli_command: str, timeout: float | None = None) -> str:  # type: ignore[override]
        """The output of an Asterisk CLI command (``Action: Command``; needs ``command`` write, which the
        ``hotline`` user does not have: this is for a site's own monitoring user).

        ``AmiActionError`` if Asterisk refuses it (unknown, not permitted, blacklisted).
        """
        reply = self.send_action({"Action": "Command", "Command": cli_command}, timeout)
        output = "\n".join(reply.get_all("Output"))
        if not reply.is_success:
            raise AmiActionError(f"CLI command {cli_command!r} failed: {reply.get('Message')}"
                                 + (f": {output}" if output else ""))
        return output

    # -- events ---------------------------------------------------------------

    def register_event(self, event: str, function: EventCallback) -> None:
        """Call ``function(event)`` for each event named ``event`` (``'*'``: every event).

        Callbacks run one at a time on the client's event thread, in arrival
        order; they may send actions. One that raises is logged and skipped.
        """
        with self._lock:
            self._callbacks[event] = [*self._callbacks.get(event, []), function]

    def unregister_event(self, event: str, function: EventCallback) -> None:
        with self._lock:
            remaining = [f for f in self._callbacks.get(event, []) if f is not function]
            self._callbacks[event] = remaining

    def on_connection_lost(self, callback: LostCallback) -> None:
        """Call ``callback(reason)`` each time a connection ends, whatever ended it.

        It runs on the reader thread after every waiting action has failed, so
        it must be quick: set a flag or an event (as :class:`AmiLink` does),
        never send an action. Kept across reconnects, like event callbacks.
        """
        with self._lock:
            self._lost_callbacks.append(callback)

    def expect_event(self, name: str = "*", predicate: EventPredicate | None = None) -> EventWaiter:
        """Start catching the first event ``name`` for which ``predicate(event)`` is true.

        Call before the action that causes it, then ``waiter.wait(timeout)``::

            waiter = client.expect_event("Hangup", lambda e: e.get("Uniqueid") == uid)
            client.send_action({...})
            hangup = waiter.wait(30)

        The predicate runs on the reader thread: keep it to comparing headers.
        """
        waiter = EventWaiter(self, name, predicate)
        self._add_waiter(waiter)
        return waiter

    def wait_for_event(self, name: str = "*", predicate: EventPredicate | None = None,
                       timeout: float | None = None) -> AmiMessage:
        """The next event ``name`` matching ``predicate`` that arrives from now on."""
        return self.expect_event(name, predicate).wait(self.default_timeout if timeout is None else timeout)

    def _add_waiter(self, waiter: EventWaiter) -> None:
        with self._lock:
            if not self._alive:
                raise AmiConnectionError(f"cannot wait for AMI events: not connected ({self._lost_reason})")
            self._waiters.append(waiter)

    def _remove_waiter(self, waiter: EventWaiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- threads --------------------------------------------------------------

    def message_loop(self, sock: socket.socket, reader: MessageReader,  # type: ignore[override]
                     events: "queue.SimpleQueue[AmiMessage | None]") -> None:
        """Reader thread: routes replies to their senders and events to the dispatcher."""
        reason = f"Asterisk at {self.peer} closed the connection"
        try:
            while True:
                for message in reader.messages():
                    self._route(message, events)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue  # an idle connection is normal; the timeout is for writes
                except OSError as exc:
                    reason = f"connection to AMI at {self.peer} lost: {exc}"
                    break
                if not data:
                    break
                reader.feed(data)
        except AmiConnectionError as exc:  # a message over the size limit
            reason = str(exc)
        finally:
            sock.close()
            self._connection_lost(reason, events)

    def _route(self, message: AmiMessage, events: "queue.SimpleQueue[AmiMessage | None]") -> None:
        if message.is_event:
            with self._lock:
                waiters = list(self._waiters)
            for waiter in waiters:
                waiter.offer(message)
            events.put(message)
        elif "Response" in message:
            with self._lock:
                pending = self._pending.pop(message.action_id or "", None)
            if pending is None:
                log.debug("AMI reply for no waiting action (late or foreign): %r", message)
            else:
                pending.resolve(message)
        else:
            log.warning("AMI message from %s is neither a reply nor an event: %r", self.peer, message.headers)

    def _connection_lost(self, reason: str, events: "queue.SimpleQueue[AmiMessage | None]") -> None:
        with self._lock:
            expected = self._closing
            if self._lost_reason:
                reason = self._lost_reason  # a reason given by _abort (close, login refused, write failure)
            self._alive, self._logged_in, self._lost_reason = False, False, reason
            pending, self._pending = list(self._pending.values()), {}
            waiters, self._waiters = self._waiters, []
            lost_callbacks = list(self._lost_callbacks)
        message = f"AMI connection to {self.peer} ended: {reason}"
        for action in pending:  # one exception each: they are raised in different threads
            action.resolve(error=AmiConnectionError(message))
        for waiter in waiters:
            waiter.fail(AmiConnectionError(message))
        events.put(None)
        (log.info if expected else log.warning)("AMI connection to %s ended: %s", self.peer, reason)
        for callback in lost_callbacks:
            try:
                callback(reason)
            except Exception:  # the reader is ending anyway; the others must still hear
                log.exception("AMI connection-lost callback %r failed", callback)

    def event_dispatch(self, events: "queue.SimpleQueue[AmiMessage | None]") -> None:  # type: ignore[override]
        """Event thread: runs the callbacks, so a slow one never holds up replies."""
        while (event := events.get()) is not None:
            with self._lock:
                callbacks = self._callbacks.get(event.name, []) + self._callbacks.get("*", [])
            for callback in callbacks:
                try:
                    callback(event)
                except Exception:  # one broken subscriber must not silence the others
                    log.exception("AMI event callback %r failed on %s", callback, event.name)


def _read_banner(sock: socket.socket, reader: MessageReader, peer: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (banner := reader.banner()) is None:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            data = sock.recv(4096)
        except TimeoutError as exc:
            raise AmiConnectionError(f"no AMI greeting from {peer} within {timeout} s") from exc
        except OSError as exc:
            raise AmiConnectionError(f"cannot read the AMI greeting from {peer}: {exc}") from exc
        if not data:
            raise AmiConnectionError(f"{peer} closed the connection before greeting as AMI")
        reader.feed(data)
    if not banner.startswith(BANNER_PREFIX):
        raise AmiConnectionError(f"{peer} is not an Asterisk manager interface: {banner[:80]!r}")
    return banner


def _enable_keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in _KEEPALIVE.items():
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def succeeded(reply: AmiMessage, action: str) -> AmiMessage:
    """``reply`` if Asterisk accepted ``action``; otherwise ``AmiActionError`` with its message."""
    if not reply.is_success:
        raise AmiActionError(f"AMI action {action} failed: {reply.get('Message') or reply.get('Response')}")
    return reply


def connect_ami(settings: Settings | None = None, timeout: float = CONNECT_TIMEOUT) -> AmiClient:
    """A logged-in client for the Asterisk in the settings (host, AMI port, user, secret)."""
    settings = settings or get_settings()
    client = AmiClient()
    client.connect(settings.asterisk_host, settings.ami_port, timeout)
    try:
        client.login(settings.ami_user, settings.ami_secret)
    except BaseException:
        client.close()
        raise
    return client
