"""One AMI connection kept up for a long-running process (the agent console).

Asterisk restarts, and a restart drops every AMI connection and forgets every
dynamic queue member (``persistentmembers = no`` in queues.conf). ``AmiLink``
owns one :class:`AmiClient`; a supervisor thread logs it in, hears of a loss
at once through ``AmiClient.on_connection_lost`` (no polling), and logs in
again with exponential backoff. After every login, once Asterisk says
``FullyBooted`` (it takes logins while its modules are still loading), it runs
the ``on_connected`` hooks, which put back what Asterisk forgot (logged-in
agents) and re-read state (queues). Actions never wait for a reconnect: while
the link is down they fail at once with ``AmiConnectionError``, so a web
request answers "telephony unavailable" instead of hanging.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from ivr.config import Settings, get_settings
from ivr.telephony.ami import (
    CONNECT_TIMEOUT,
    ActionEvents,
    AmiClient,
    AmiMessage,
    EventCallback,
)
from ivr.telephony.errors import AmiError, AmiNotSent, AmiTimeout

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0  # seconds stop() waits for the supervisor
BOOT_TIMEOUT = 60.0  # seconds after login for Asterisk to say FullyBooted

ConnectedHook = Callable[[], object]


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnect attempts: ``initial`` doubling (``factor``) up to ``cap``.

    ``jitter`` spreads each delay by up to that fraction either way, so that
    several consoles do not all knock on a restarted Asterisk in the same instant.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (1 = the first after a loss)."""
        base = min(self.initial * self.factor ** max(attempt - 1, 0), self.cap)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class LinkStatus:
    """What the console shows about telephony.

    ``since`` is when the link entered its present state (logged in, or
    lost), in UTC; None before the first attempt ends. ``reconnects`` counts
    logins after the first; ``last_error`` is the latest failure or loss, kept
    after recovery so the console can say what happened.
    """

    connected: bool
    since: datetime | None
    reconnects: int
    last_error: str


class AmiLink:
    """Keeps one logged-in AMI connection; ``start()``, then use it like an ``AmiClient``.

    ``register_event`` callbacks and ``on_connected`` hooks survive reconnects.
    A hook runs on the supervisor thread after each login and may send
    actions through the link; one that raises is logged and the link goes on.
    """

    def __init__(self, settings: Settings | None = None, backoff: Backoff = Backoff(),
                 connect_timeout: float = CONNECT_TIMEOUT, boot_timeout: float = BOOT_TIMEOUT) -> None:
        self.settings = settings or get_settings()
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.boot_timeout = boot_timeout
        self._client = AmiClient(name="console")
        self._client.on_connection_lost(self._heard_loss)
        self._hooks: list[ConnectedHook] = []
        self._lock = threading.Lock()  # the status fields below
        self._up = False
        self._since: datetime | None = None
        self._logins = 0
        self._last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()  # a loss or stop(): the supervisor looks again
        self._supervisor: threading.Thread | None = None

    @property
    def peer(self) -> str:
        return f"{self.settings.asterisk_host}:{self.settings.ami_port}"

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor; returns at once (the first login happens on its thread)."""
        if self._supervisor is not None:
            raise RuntimeError("AmiLink already started")
        self._supervisor = threading.Thread(target=self._supervise, name="ami-link", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Log off and stop reconnecting, in bounded time: the client's close
        (``CLOSE_TIMEOUT`` for the Logoff and each thread), then ``timeout`` for the supervisor."""
        self._stop.set()
        self._wake.set()
        self._client.close()  # also ends a login or a wait for FullyBooted in progress
        if self._supervisor is not None:
            self._supervisor.join(timeout)

    def on_connected(self, hook: ConnectedHook) -> None:
        """Run ``hook()`` after every login, the first and each reconnect, once Asterisk has booted."""
        self._hooks.append(hook)

    def status(self) -> LinkStatus:
        with self._lock:
            return LinkStatus(connected=self._up, since=self._since,
                              reconnects=max(self._logins - 1, 0), last_error=self._last_error)

    # -- the client's interface -----------------------------------------------

    def register_event(self, event: str, function: EventCallback) -> None:
        self._client.register_event(event, function)

    def unregister_event(self, event: str, function: EventCallback) -> None:
        self._client.unregister_event(event, function)

    def send_action(self, action: Mapping[str, object], timeout: float | None = None) -> AmiMessage:
        self._require_up(action)
        return self._client.send_action(action, timeout)

    def send_action_with_events(self, action: Mapping[str, object], until: str,
                                timeout: float | None = None) -> tuple[AmiMessage, ActionEvents]:
        self._require_up(action)
        return self._client.send_action_with_events(action, until, timeout)

    def send_list_action(self, action: Mapping[str, object], complete_event: str,
                         timeout: float | None = None) -> tuple[AmiMessage, list[AmiMessage]]:
        self._require_up(action)
        return self._client.send_list_action(action, complete_event, timeout)

    def _require_up(self, action: Mapping[str, object]) -> None:
        """Between connect and login the socket is open but Asterisk would refuse the action."""
        with self._lock:
            if not self._up:
                raise AmiNotSent(f"AMI action {action.get('Action')} not sent: link to "
                                         f"{self.peer} is down ({self._last_error or 'not connected yet'})")

    # -- the supervisor -------------------------------------------------------

    def _supervise(self) -> None:
        attempt = 0  # failed attempts and losses since the last login; 0: connect now
        while not self._stop.is_set():
            if attempt:
                delay = self.backoff.delay(attempt)
                log.info("AMI link retrying: peer=%s attempt=%d delay=%.2fs", self.peer, attempt, delay)
                if self._stop.wait(delay):
                    break
            if self._log_in():
                attempt = 0
                self._run_hooks()
                self._wait_for_loss()
            attempt += 1
        self._client.close()
        log.info("AMI link stopped: peer=%s", self.peer)

    def _log_in(self) -> bool:
        self._wake.clear()
        try:
            self._open()
        except AmiError as exc:
            self._login_failed(str(exc))
            log.warning("AMI link cannot log in: peer=%s error=%s", self.peer, exc)
            return False
        with self._lock:  # against _heard_loss: a connection lost already is not "up"
            self._up = self._client.connected()
            self._since = _now()
            self._logins += 1
            reconnects = self._logins - 1
        log.info("AMI link connected: peer=%s reconnects=%d", self.peer, reconnects)
        return True

    def _open(self) -> None:
        """Connect, log in, and wait until Asterisk has loaded its modules.

        Asterisk takes AMI logins while still booting, and then answers
        ``QueueAdd`` with "Invalid/unknown command" (seen in the sandbox for a
        tenth of a second of each restart), so hooks wait for ``FullyBooted``:
        sent right after the login reply when Asterisk is up, or when it gets there.
        """
        client, settings = self._client, self.settings
        client.connect(settings.asterisk_host, settings.ami_port, self.connect_timeout)
        try:
            booted = client.expect_event("FullyBooted")
            client.login(settings.ami_user, settings.ami_secret)
            booted.wait(self.boot_timeout)
        except AmiTimeout as exc:
            client.close()
            raise AmiTimeout(f"{exc}: Asterisk still booting, or AMI user {settings.ami_user!r} "
                             "lacks read=system (asterisk-conf/manager.conf)") from exc
        except BaseException:
            client.close()
            raise

    def _run_hooks(self) -> None:
        for hook in list(self._hooks):
            try:
                hook()
            except Exception:  # one failing hook must not keep the link down or skip the others
                log.exception("AMI link on_connected hook %r failed: peer=%s", hook, self.peer)

    def _wait_for_loss(self) -> None:
        # A wake left over from an earlier connection is cleared and ignored:
        # the client says whether this one is still up.
        while not self._stop.is_set() and self._client.connected():
            self._wake.wait()
            self._wake.clear()

    def _heard_loss(self, reason: str) -> None:
        """AmiClient's connection-lost callback, on its reader thread: record and wake.

        A failed login also ends a connection; the link was not up then, and
        ``_log_in`` records that failure itself.
        """
        stopping = self._stop.is_set()
        with self._lock:
            was_up, self._up = self._up, False
            if was_up:
                self._since = _now()
                if not stopping:
                    self._last_error = reason
        if was_up and not stopping:
            log.warning("AMI link lost: peer=%s reason=%s", self.peer, reason)
        self._wake.set()

    def _login_failed(self, error: str) -> None:
        with self._lock:
            self._up, self._last_error = False, error
            if self._since is None:  # the very first attempt failed
                self._since = _now()


def _now() -> datetime:
    return datetime.now(timezone.utc)
