"""A SIP test caller on pjsua2: places real calls into Asterisk and keys DTMF.

pjsua2 (PJSIP 2.15) is not thread-safe from Python's point of view and its
library can be created only once per process. So one dedicated thread owns
the library for the whole process (``_PjsuaThread``): it creates the
Endpoint with no worker threads of its own, polls ``libHandleEvents`` and
runs every pjsua2 operation that other threads hand it through a queue.
Call-state callbacks run in that thread too and only update plain Python
state guarded by a condition variable, which the test thread waits on.

Audio uses the null device: nothing is played or captured, but RTP flows,
which RFC 4733 DTMF needs.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

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


def sip_identity(ani: str, display_name: str | None, host: str) -> str:
    """The From identity ``"Name" <sip:ANI@host>`` for a caller."""
    if not ani or any(ch in ani for ch in '<>@" \\;:') or any(ord(ch) < 0x21 for ch in ani):
        raise ValueError(f"not a usable SIP user part for a caller number: {ani!r}")
    uri = f"<sip:{ani}@{host}>"
    return f"{sip_display_name(display_name)} {uri}" if display_name else uri


class _PjsuaThread:
    """The one thread that owns the pjsua2 library in this process."""

    def __init__(self, log_level: int) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._started = threading.Event()
        self._stopping = False
        self._error: BaseException | None = None
        self.transport_id: int | None = None
        self.ep: Any = None
        #: Calls whose pjsua2 objects are alive; released before the library goes.
        self.live_calls: set[PlacedCall] = set()
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

    def defer(self, job: Callable[[], Any]) -> None:
        """Run ``job`` in the pjsua2 thread soon, without waiting for it."""
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
            for call in list(self.live_calls):
                call._release()
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


class PlacedCall:
    """One outgoing call. Methods may be called from any thread."""

    def __init__(self, engine: _PjsuaThread, extension: str, ani: str) -> None:
        self.extension = extension
        self.ani = ani
        self._engine = engine
        self._cond = threading.Condition()
        self._state = "null"
        self._last_status_code: int | None = None
        self._last_reason = ""
        self._media_active = False
        self._call: Any = None
        self._account: Any = None
        self.sip_call_id: str | None = None

    # --- state, updated from the pjsua2 thread
    @property
    def state(self) -> str:
        """One of STATE_NAMES: calling, early, connecting, confirmed, disconnected ..."""
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
        log.debug("call to %s from %s: %s (%s %s)", self.extension, self.ani, state, status_code, reason)
        if state == "disconnected":
            # Not now: this runs inside the call's own callback.
            self._engine.defer(self._release)

    def _on_media(self, active: bool) -> None:
        with self._cond:
            self._media_active = active
            self._cond.notify_all()

    def _release(self) -> None:
        # In the pjsua2 thread: the account goes once its only call has ended.
        self._call = None
        self._account = None
        self._engine.live_calls.discard(self)

    # --- waiting
    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"call to {self.extension} from {self.ani}: not {what} within "
                                   f"{timeout} s (state {self._state}, last SIP status {self._last_status_code})")

    def wait_answered(self, timeout: float = 10.0) -> None:
        """Wait until the call is answered and its media is up (DTMF can be sent)."""
        self._wait(lambda: self._state in ("confirmed", "disconnected"), timeout, "answered")
        if self.state == "disconnected":
            raise SipCallerError(f"call to {self.extension} from {self.ani} ended before answer: "
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

    def hangup(self) -> None:
        """Hang up (CANCEL before answer, BYE after). Does nothing if already ended."""
        import pjsua2 as pj

        def hang_up() -> None:
            if self._call is None or self.state == "disconnected":
                return
            prm = pj.CallOpParam()
            prm.statusCode = pj.PJSIP_SC_DECLINE if self.state != "confirmed" else pj.PJSIP_SC_OK
            self._call.hangup(prm)

        self._engine.run(hang_up)

    def __repr__(self) -> str:
        return f"<PlacedCall to {self.extension} from {self.ani} {self.state}>"


class SipCaller:
    """Places SIP calls from 127.0.0.1, each with its own caller number and name.

    Use as a context manager; closing hangs up the calls it placed. The
    pjsua2 library itself lives until the process exits (it cannot be
    created twice), so any number of SipCallers may come and go.
    """

    def __init__(self) -> None:
        self._engine: _PjsuaThread | None = None
        self._calls: list[PlacedCall] = []

    def start(self) -> "SipCaller":
        if self._engine is None:
            self._engine = _pjsua()
        return self

    def __enter__(self) -> "SipCaller":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Hang up every call still up and wait for them to end."""
        for call in self._calls:
            if call.state != "disconnected":
                try:
                    call.hangup()
                    call.wait_disconnected(timeout)
                except (SipCallerError, TimeoutError) as exc:
                    log.warning("could not hang up %r: %s", call, exc)
        self._calls.clear()

    def call(self, extension: str, ani: str, display_name: str | None = None,
             host: str = "127.0.0.1", port: int = 5060) -> PlacedCall:
        """Dial ``sip:EXTENSION@HOST:PORT`` as ``"display_name" <sip:ANI@127.0.0.1>``."""
        engine = self.start()._engine
        assert engine is not None
        identity = sip_identity(ani, display_name, "127.0.0.1")
        placed = PlacedCall(engine, extension, ani)
        engine.run(lambda: _make_call(engine, placed, identity, f"sip:{extension}@{host}:{port}"))
        self._calls.append(placed)
        return placed


_account_ids = itertools.count(1)


def _make_call(engine: _PjsuaThread, placed: PlacedCall, identity: str, target: str) -> None:
    """In the pjsua2 thread: an account for this caller identity and the call."""
    import pjsua2 as pj

    class _Call(pj.Call):
        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            placed.sip_call_id = info.callIdString
            placed._on_state(STATE_NAMES.get(info.state, str(info.state)),
                             info.lastStatusCode, info.lastReason)

        def onCallMediaState(self, prm: Any) -> None:
            info = self.getInfo()
            active = any(m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                         for m in info.media)
            placed._on_media(active)

    acfg = pj.AccountConfig()
    acfg.idUri = identity
    acfg.sipConfig.transportId = engine.transport_id
    acfg.regConfig.registerOnAdd = False
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = pj.Account()
    account.create(acfg)
    call = _Call(account)
    prm = pj.CallOpParam(True)
    placed._account = account
    placed._call = call
    engine.live_calls.add(placed)
    placed._on_state("calling", 0, "")
    try:
        call.makeCall(target, prm)
    except pj.Error as exc:
        placed._on_state("disconnected", 0, exc.info())
        raise SipCallerError(f"cannot call {target} as {identity}: {exc.info()}") from exc

