"""A SIP test caller and agent phones on pjsua2: real calls into and out of Asterisk.

The caller places calls and keys DTMF; an agent phone registers as a
PJSIP endpoint with a password and answers the calls Asterisk sends it.

pjsua2 (PJSIP 2.15) is not thread-safe from Python's point of view and its
library can be created only once per process. So one dedicated thread owns
the library for the whole process (``_PjsuaThread``): it creates the
Endpoint with no worker threads of its own, polls ``libHandleEvents`` and
runs every pjsua2 operation that other threads hand it through a queue.
Call-state and registration callbacks run in that thread too and only
update plain Python state guarded by a condition variable, which the test
thread waits on. Caller and agent phones share the one UDP transport.

Audio uses the null device: nothing is played or captured, but RTP flows,
which RFC 4733 DTMF needs.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import queue
import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Call states, as pjsua2 names them (PJSIP_INV_STATE_*), lower-cased.
STATE_NAMES = {
    0: "null", 1: "calling", 2: "incoming", 3: "early",
    4: "connecting", 5: "confirmed", 6: "disconnected",
}


class SipCallerError(RuntimeError):
    """The test caller could not do what was asked (with the reason)."""


def sip_display_name(name: str) -> str:
    """``name`` as a SIP quoted-string (RFC 3261 25.1): quotes and backslashes escaped.

    SIP cannot carry CR, LF or other control characters in a display name;
    those raise ValueError rather than being sent mangled.
    """
    bad = [ch for ch in name if ord(ch) < 0x20 or ord(ch) == 0x7F]
    if bad:
        raise ValueError(f"a SIP display name cannot contain control characters: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sip_uri_user(identity: str) -> str | None:
    """The user part of a From/To value's URI (the caller's number), if it has one.

    The URI is the one in angle brackets when there are any: a display name
    may itself look like a URI.
    """
    match = re.search(r"<sips?:([^@;>\s]+)@", identity) or re.match(r"\s*sips?:([^@;>\s]+)@", identity)
    return match.group(1) if match else None


def sip_identity(ani: str, display_name: str | None, host: str) -> str:
    """The From identity ``"Name" <sip:ANI@host>`` for a caller."""
    if not ani or any(ch in ani for ch in '<>@" \\;:') or any(ord(ch) < 0x21 for ch in ani):
        raise ValueError(f"not a usable SIP user part for a caller number: {ani!r}")
    uri = f"<sip:{ani}@{host}>"
    return f"{sip_display_name(display_name)} {uri}" if display_name else uri


class _Releasable(Protocol):
    def _release(self) -> None:
        """In the pjsua2 thread: drop the pjsua2 objects held, before the library goes."""


class _PjsuaThread:
    """The one thread that owns the pjsua2 library in this process."""

    def __init__(self, log_level: int) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._started = threading.Event()
        self._stopping = False
        self._error: BaseException | None = None
        self.transport_id: int | None = None
        self.ep: Any = None
        #: Calls and phones whose pjsua2 objects are alive; released before the library goes.
        self.live: set[_Releasable] = set()
        self._log_level = log_level
        self._thread = threading.Thread(target=self._main, name="pjsua2", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise SipCallerError(f"pjsua2 failed to start: {self._error}") from self._error
        if not self._started.is_set():
            raise SipCallerError("pjsua2 did not start within 30 s")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    def run(self, job: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``job`` in the pjsua2 thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return job()
        if not self.alive:
            raise SipCallerError("the pjsua2 thread has stopped")
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future.result(timeout)

    def defer(self, job: Callable[[], Any], after: float = 0.0) -> None:
        """Run ``job`` in the pjsua2 thread soon (``after`` seconds or more), without waiting for it."""
        if after > 0:
            timer = threading.Timer(after, self.defer, (job,))
            timer.daemon = True
            timer.start()
            return
        self._jobs.put((job, Future()))

    def stop(self) -> None:
        """Destroy the library; pjsua2 cannot be started again in this process."""
        if not self._thread.is_alive():
            return
        self._stopping = True
        self._thread.join(10)

    def _main(self) -> None:
        import pjsua2 as pj

        try:
            self.ep = pj.Endpoint()
            self.ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = False
            cfg.uaConfig.userAgent = "hotline-test-caller"
            cfg.logConfig.level = self._log_level
            cfg.logConfig.consoleLevel = self._log_level
            cfg.medConfig.noVad = True
            cfg.medConfig.clockRate = 8000
            # Keep the (null) sound device open: it is the media clock. pjsua
            # closes an idle one after 1 s, which stalls RTP and with it any
            # RFC 4733 digits still queued.
            cfg.medConfig.sndAutoCloseTime = -1
            self.ep.libInit(cfg)
            tcfg = pj.TransportConfig()
            tcfg.port = 0  # ephemeral
            tcfg.boundAddress = "127.0.0.1"
            self.transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            self.ep.audDevManager().setNullDev()
            self.ep.libStart()
        except BaseException as exc:  # reported to the thread that asked for start-up
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            while not self._stopping:
                self._run_pending_jobs()
                self.ep.libHandleEvents(10)
            self._run_pending_jobs()
            self.ep.hangupAllCalls()
            for _ in range(20):  # let the BYEs go out
                self.ep.libHandleEvents(10)
            self._run_pending_jobs()
            for holder in list(self.live):
                holder._release()
        finally:
            self.ep.libDestroy()

    def _run_pending_jobs(self) -> None:
        while True:
            try:
                job, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed back to the caller of run()
                future.set_exception(exc)


_engine: _PjsuaThread | None = None
_engine_lock = threading.Lock()


def _pjsua() -> _PjsuaThread:
    """The process-wide pjsua2 thread, started on first use and stopped at exit."""
    global _engine
    with _engine_lock:
        if _engine is None:
            level = int(os.environ.get("IVR_PJSUA_LOG_LEVEL", "1"))
            _engine = _PjsuaThread(level)
            atexit.register(_engine.stop)
        elif not _engine.alive:
            raise SipCallerError("pjsua2 was shut down in this process and cannot be restarted")
        return _engine


class SipCall:
    """One call, placed or answered. Methods may be called from any thread."""

    def __init__(self, engine: _PjsuaThread, description: str) -> None:
        #: "call to 95598 from 13800138598", for messages.
        self.description = description
        self._engine = engine
        self._cond = threading.Condition()
        self._state = "null"
        self._last_status_code: int | None = None
        self._last_reason = ""
        self._media_active = False
        self._call: Any = None
        self._players: list[Any] = []  # WAV players sending into the call, kept until it ends
        self.sip_call_id: str | None = None

    # --- state, updated from the pjsua2 thread
    @property
    def state(self) -> str:
        """One of STATE_NAMES: calling, incoming, early, connecting, confirmed, disconnected ..."""
        with self._cond:
            return self._state

    @property
    def last_status_code(self) -> int | None:
        """The last SIP status code seen (200 when answered, 486 busy, 404 ...)."""
        with self._cond:
            return self._last_status_code

    @property
    def last_reason(self) -> str:
        with self._cond:
            return self._last_reason

    def _on_state(self, state: str, status_code: int, reason: str) -> None:
        with self._cond:
            self._state = state
            self._last_status_code = status_code
            self._last_reason = reason
            self._cond.notify_all()
        log.debug("%s: %s (%s %s)", self.description, state, status_code, reason)
        if state == "disconnected":
            # Not now: this runs inside the call's own callback.
            self._engine.defer(self._release)

    def _on_media(self, active: bool) -> None:
        with self._cond:
            self._media_active = active
            self._cond.notify_all()

    def _attach(self, call: Any) -> None:
        """In the pjsua2 thread: hold the pjsua2 call until it ends or the library goes."""
        self._call = call
        self._engine.live.add(self)

    def _release(self) -> None:
        self._players.clear()
        self._call = None
        self._engine.live.discard(self)

    # --- waiting
    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"{self.description}: not {what} within {timeout} s "
                                   f"(state {self._state}, last SIP status {self._last_status_code})")

    def wait_answered(self, timeout: float = 10.0) -> None:
        """Wait until the call is answered and its media is up (DTMF can be sent)."""
        self._wait(lambda: self._state in ("confirmed", "disconnected"), timeout, "answered")
        if self.state == "disconnected":
            raise SipCallerError(f"{self.description} ended before answer: "
                                 f"{self._last_status_code} {self._last_reason}")
        self._wait(lambda: self._media_active or self._state == "disconnected", timeout, "with media")

    def wait_disconnected(self, timeout: float = 10.0) -> None:
        self._wait(lambda: self._state == "disconnected", timeout, "disconnected")

    # --- actions
    def send_dtmf(self, digits: str, duration_ms: int = 160) -> None:
        """Queue RFC 4733 DTMF digits; pjmedia sends them one after another.

        Asterisk hears them only while an application reads DTMF (Read,
        GET DATA, STREAM FILE with escape digits); digits that arrive between
        AGI commands are dropped.
        """
        import pjsua2 as pj

        def send() -> None:
            if self._call is None:
                raise SipCallerError("the call has ended")
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
            prm.duration = duration_ms
            self._call.sendDtmf(prm)

        self._engine.run(send)

    def play(self, wav: Path) -> None:
        """Speak a WAV file (mono 16-bit PCM) into the call once, as a person into the phone."""
        import pjsua2 as pj

        def start() -> None:
            if self._call is None:
                raise SipCallerError("the call has ended")
            player = pj.AudioMediaPlayer()
            player.createPlayer(str(wav), pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(self._call.getAudioMedia(-1))
            self._players.append(player)

        self._engine.run(start)

    def transfer(self, target_uri: str) -> None:
        """Blind-transfer the other party to ``target_uri`` (a SIP REFER), as an agent's phone does."""
        import pjsua2 as pj

        def refer() -> None:
            if self._call is None or self.state != "confirmed":
                raise SipCallerError("only an answered call can be transferred")
            self._call.xfer(target_uri, pj.CallOpParam(True))

        self._engine.run(refer)

    def hangup(self) -> None:
        """Hang up (CANCEL or 603 Decline before answer, BYE after). Does nothing if already ended."""
        import pjsua2 as pj

        def hang_up() -> None:
            if self._call is None or self.state == "disconnected":
                return
            prm = pj.CallOpParam()
            prm.statusCode = pj.PJSIP_SC_DECLINE if self.state != "confirmed" else pj.PJSIP_SC_OK
            self._call.hangup(prm)

        self._engine.run(hang_up)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description} {self.state}>"


class PlacedCall(SipCall):
    """One outgoing call from the test caller."""

    def __init__(self, engine: _PjsuaThread, extension: str, ani: str) -> None:
        super().__init__(engine, f"call to {extension} from {ani}")
        self.extension = extension
        self.ani = ani
        self._account: Any = None

    def _release(self) -> None:
        # The account goes once its only call has ended.
        super()._release()
        self._account = None


class AnsweredCall(SipCall):
    """One call that an agent phone (or the customer exchange) received."""

    def __init__(self, engine: _PjsuaThread, endpoint: str, remote_uri: str, local_uri: str = "") -> None:
        super().__init__(engine, f"call to {endpoint} from {remote_uri}")
        #: The From header's value as Asterisk sent it: ``"Name" <sip:13800138000@127.0.0.1>``.
        self.remote_uri = remote_uri
        #: The To header's value: ``<sip:+8613700005001@127.0.0.1:5071>`` for a number dialled on a trunk.
        self.local_uri = local_uri

    @property
    def dialled_number(self) -> str | None:
        """The number Asterisk dialled (the To user part): ``+8613700005001`` on the outbound trunk."""
        return sip_uri_user(self.local_uri)

    @property
    def caller_number(self) -> str | None:
        """The caller's number as Asterisk passed it on (the user part of ``remote_uri``)."""
        return sip_uri_user(self.remote_uri)

    def _answer(self, status_code: int = 200) -> None:
        """In the pjsua2 thread: the final answer (200 OK, or 486 Busy Here ...), unless the caller
        gave up while it rang."""
        import pjsua2 as pj

        if self._call is None or self.state == "disconnected":
            return
        prm = pj.CallOpParam()
        prm.statusCode = status_code
        try:
            self._call.answer(prm)
        except pj.Error as exc:  # a deferred job: nobody else would hear of it
            log.warning("%s: cannot answer %d: %s", self.description, status_code, exc.info())


def _hang_up_all(calls: Iterable[SipCall], timeout: float) -> None:
    """Hang up every call still up and wait for each to end; what will not end is logged."""
    for call in calls:
        if call.state != "disconnected":
            try:
                call.hangup()
                call.wait_disconnected(timeout)
            except (SipCallerError, TimeoutError) as exc:
                log.warning("could not hang up %r: %s", call, exc)


class AgentPhone:
    """An agent's phone: registers as a PJSIP endpoint and answers every call.

    Each incoming call rings (180) and is answered (200) ``answer_after``
    seconds later. Get calls in arrival order with ``wait_for_call``;
    ``calls`` keeps them all. ``close`` hangs up, unregisters and frees the
    account, so a phone can be registered again later in the same process.
    """

    def __init__(self, engine: _PjsuaThread, endpoint: str, answer_after: float = 0.0) -> None:
        self.endpoint = endpoint
        self.answer_after = answer_after
        self._engine = engine
        self._cond = threading.Condition()
        self._registered = False
        self._reg_result: tuple[int, str] | None = None
        self._calls: list[AnsweredCall] = []
        self._handed_out = 0
        self._account: Any = None

    @property
    def registered(self) -> bool:
        """Whether the registrar last accepted our REGISTER (and we have not unregistered)."""
        with self._cond:
            return self._registered

    @property
    def calls(self) -> list[AnsweredCall]:
        """Every call this phone received, oldest first."""
        with self._cond:
            return list(self._calls)

    # --- from the pjsua2 thread
    def _on_registration(self, active: bool, code: int, reason: str) -> None:
        with self._cond:
            self._registered = active
            self._reg_result = (code, reason)
            self._cond.notify_all()
        log.debug("agent phone %s: registration %s (%s %s)", self.endpoint, active, code, reason)

    def _on_incoming(self, account: Any, call_id: int) -> None:
        import pjsua2 as pj

        pj_call = _call_class()(account, call_id)
        info = pj_call.getInfo()
        call = AnsweredCall(self._engine, self.endpoint, info.remoteUri, info.localUri)
        pj_call.sip_call = call
        call._attach(pj_call)
        call._on_state("incoming", 0, "")
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        prm = pj.CallOpParam()
        prm.statusCode = pj.PJSIP_SC_RINGING
        pj_call.answer(prm)
        status_code, after = self._response_to(call)
        if status_code is not None:
            self._engine.defer(lambda: call._answer(status_code), after=after)

    def _response_to(self, call: AnsweredCall) -> tuple[int | None, float]:
        """The final answer to an incoming call and after how long it rings; None: it rings on."""
        return 200, self.answer_after

    def _release(self) -> None:
        # Deleting the account also unregisters it, if close() could not.
        self._account = None
        self._engine.live.discard(self)

    # --- registering
    def _registration_step(self, job: Callable[[], None], timeout: float) -> tuple[int, str]:
        """Run ``job`` (which sends a REGISTER) and wait for the registrar's final answer."""
        with self._cond:
            self._reg_result = None
        self._engine.run(job)
        with self._cond:
            if not self._cond.wait_for(lambda: self._reg_result is not None, timeout):
                raise SipCallerError(f"agent phone {self.endpoint}: no answer to REGISTER within {timeout} s")
            assert self._reg_result is not None
            return self._reg_result

    #: pjsua matches an incoming call to the account of its To user, else to the first account of its
    #: domain by this priority: the customer exchange, whose To users are numbers, comes first.
    account_priority = 0

    def register(self, password: str, registrar: str, timeout: float = 5.0) -> None:
        """REGISTER as ``sip:ENDPOINT@127.0.0.1`` with digest auth; raise unless accepted."""
        def create() -> None:
            self._account = _agent_account(self._engine, self, password, registrar)
            self._engine.live.add(self)

        try:
            code, reason = self._registration_step(create, timeout)
            if not self.registered:
                raise SipCallerError(f"agent phone {self.endpoint} could not register at {registrar}: "
                                     f"{code} {reason}")
        except SipCallerError:
            self._engine.run(self._release)
            raise

    def wait_for_call(self, timeout: float = 10.0) -> AnsweredCall:
        """The next call this phone received that no earlier wait returned."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._calls) > self._handed_out, timeout):
                raise TimeoutError(f"agent phone {self.endpoint}: no call within {timeout} s")
            call = self._calls[self._handed_out]
            self._handed_out += 1
            return call

    def close(self, timeout: float = 5.0) -> None:
        """Hang up, unregister (waiting for the registrar) and free the account. Idempotent."""
        _hang_up_all(list(self.calls), timeout)
        if self._account is None:
            return
        if self.registered:
            try:
                self._registration_step(lambda: self._account.setRegistration(False), timeout)
            except SipCallerError as exc:
                log.warning("agent phone %s: %s", self.endpoint, exc)
        self._engine.run(self._release)

    def __enter__(self) -> "AgentPhone":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AgentPhone {self.endpoint} {'registered' if self.registered else 'not registered'}>"


class CustomerExchange(AgentPhone):
    """The customers at the far end of the outbound trunk, for campaign calls.

    Registers as the trunk's endpoint (``outbound``) and takes every call
    Asterisk sends it as ``PJSIP/<number>@outbound``; what each customer does
    is arranged per number beforehand: ``answers`` (after some ringing),
    ``is_busy`` (486) or ``never_answers`` (rings until Asterisk gives up).
    A number nobody arranged gets 404, so a call the test did not expect
    fails loudly in the dialer's results. ``calls_to`` counts what each
    number received: a campaign must never call twice for one attempt.
    """

    account_priority = 10

    def __init__(self, engine: _PjsuaThread, endpoint: str) -> None:
        super().__init__(engine, endpoint)
        self._plans: dict[str, tuple[int | None, float]] = {}

    def answers(self, number: str, after: float = 0.5) -> None:
        self._plans[number] = (200, after)

    def is_busy(self, number: str) -> None:
        self._plans[number] = (486, 0.2)

    def never_answers(self, number: str) -> None:
        self._plans[number] = (None, 0.0)

    def _response_to(self, call: AnsweredCall) -> tuple[int | None, float]:
        return self._plans.get(call.dialled_number or "", (404, 0.0))

    def calls_to(self, number: str) -> list[AnsweredCall]:
        """Every call ``number`` received, oldest first."""
        return [call for call in self.calls if call.dialled_number == number]

    def wait_for_call_to(self, number: str, timeout: float = 20.0) -> AnsweredCall:
        """The first call ``number`` received (waiting for it)."""
        with self._cond:
            if not self._cond.wait_for(lambda: any(c.dialled_number == number for c in self._calls), timeout):
                raise TimeoutError(f"customer {number}: no call within {timeout} s")
            return next(call for call in self._calls if call.dialled_number == number)

    def __repr__(self) -> str:
        return f"<CustomerExchange {self.endpoint} {'registered' if self.registered else 'not registered'}>"


class SipCaller:
    """Places SIP calls from 127.0.0.1, each with its own caller number and name,
    and registers agent phones that answer the calls Asterisk sends them.

    Use as a context manager; closing hangs up the calls it placed and
    closes its agent phones. The pjsua2 library itself lives until the
    process exits (it cannot be created twice), so any number of SipCallers
    may come and go.
    """

    def __init__(self) -> None:
        self._engine: _PjsuaThread | None = None
        self._calls: list[PlacedCall] = []
        self._phones: list[AgentPhone] = []

    def start(self) -> "SipCaller":
        if self._engine is None:
            self._engine = _pjsua()
        return self

    def _started_engine(self) -> _PjsuaThread:
        engine = self.start()._engine
        assert engine is not None
        return engine

    def __enter__(self) -> "SipCaller":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Hang up every call still up, close the agent phones and wait for both."""
        _hang_up_all(list(self._calls), timeout)
        self._calls.clear()
        for phone in self._phones:
            phone.close(timeout)
        self._phones.clear()

    def call(self, extension: str, ani: str, display_name: str | None = None,
             host: str = "127.0.0.1", port: int = 5060) -> PlacedCall:
        """Dial ``sip:EXTENSION@HOST:PORT`` as ``"display_name" <sip:ANI@127.0.0.1>``."""
        engine = self._started_engine()
        identity = sip_identity(ani, display_name, "127.0.0.1")
        placed = PlacedCall(engine, extension, ani)
        engine.run(lambda: _make_call(engine, placed, identity, f"sip:{extension}@{host}:{port}"))
        self._calls.append(placed)
        return placed

    def agent_phone(self, endpoint: str, password: str, answer_after: float = 0.0,
                    host: str = "127.0.0.1", port: int = 5060, timeout: float = 5.0) -> AgentPhone:
        """An agent phone registered at ``sip:HOST:PORT`` as ``endpoint`` (user and
        endpoint name alike), answering calls after ``answer_after`` seconds.

        Raises SipCallerError when the registrar refuses (wrong password: 401)
        or does not answer within ``timeout``.
        """
        phone = AgentPhone(self._started_engine(), endpoint, answer_after)
        phone.register(password, f"sip:{host}:{port}", timeout)
        self._phones.append(phone)
        return phone

    def customer_exchange(self, endpoint: str, password: str, host: str = "127.0.0.1", port: int = 5060,
                          timeout: float = 5.0) -> CustomerExchange:
        """The customers behind the outbound trunk ``endpoint``, registered at ``sip:HOST:PORT``."""
        exchange = CustomerExchange(self._started_engine(), endpoint)
        exchange.register(password, f"sip:{host}:{port}", timeout)
        self._phones.append(exchange)
        return exchange


@functools.cache
def _call_class() -> type:
    """pjsua2.Call reporting to the SipCall in its ``sip_call`` (made once: pjsua2 is imported late)."""
    import pjsua2 as pj

    class _Call(pj.Call):
        sip_call: SipCall

        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            self.sip_call.sip_call_id = info.callIdString
            self.sip_call._on_state(STATE_NAMES.get(info.state, str(info.state)),
                                    info.lastStatusCode, info.lastReason)

        def onCallMediaState(self, prm: Any) -> None:
            info = self.getInfo()
            active = any(m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                         for m in info.media)
            self.sip_call._on_media(active)

    return _Call


def _make_call(engine: _PjsuaThread, placed: PlacedCall, identity: str, target: str) -> None:
    """In the pjsua2 thread: an account for this caller identity and the call."""
    import pjsua2 as pj

    acfg = pj.AccountConfig()
    acfg.idUri = identity
    acfg.sipConfig.transportId = engine.transport_id
    acfg.regConfig.registerOnAdd = False
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = pj.Account()
    account.create(acfg)
    call = _call_class()(account)
    call.sip_call = placed
    prm = pj.CallOpParam(True)
    placed._account = account
    placed._attach(call)
    placed._on_state("calling", 0, "")
    try:
        call.makeCall(target, prm)
    except pj.Error as exc:
        placed._on_state("disconnected", 0, exc.info())
        raise SipCallerError(f"cannot call {target} as {identity}: {exc.info()}") from exc


def _agent_account(engine: _PjsuaThread, phone: AgentPhone, password: str, registrar: str) -> Any:
    """In the pjsua2 thread: ``phone``'s account, registering with digest auth as it is created.

    No NAT or outbound tricks (everything is on the loopback), and no retry
    after a refusal: a test wants the first answer.
    """
    import pjsua2 as pj

    class _AgentAccount(pj.Account):
        def onRegState(self, prm: Any) -> None:
            phone._on_registration(self.getInfo().regIsActive, prm.code, prm.reason)

        def onIncomingCall(self, prm: Any) -> None:
            phone._on_incoming(self, prm.callId)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{phone.endpoint}@127.0.0.1"
    acfg.priority = phone.account_priority
    acfg.regConfig.registrarUri = registrar
    acfg.regConfig.retryIntervalSec = 0
    acfg.sipConfig.transportId = engine.transport_id
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", phone.endpoint, 0, password))
    acfg.natConfig.contactRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    acfg.natConfig.sipOutboundUse = 0
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = _AgentAccount()
    account.create(acfg)
    return account
