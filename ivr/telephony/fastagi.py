"""The FastAGI server: one TCP connection per call, one thread each, one boundary.

A call's thread goes back to a pool when the call ends and serves the next
connection (:class:`_CallThreads`): starting a thread per call cost more CPU
than a short call's AGI commands.

The boundary (:func:`run_session`) is the only place where a call's failures
are caught: a hangup is the normal end of a call; any other exception is
logged with the call's unique id and the channel is told to go to a person
(``IVR_OUTCOME=transfer``), which the dialplan does whatever we say or fail to
say. One call's failure never disturbs another.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import queue
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable

from ivr.logs import call_context
from ivr.telephony.agi import AgiSession, open_socket_session
from ivr.telephony.channel import AgiChannel
from ivr.telephony.errors import AgiError, Hangup

log = logging.getLogger(__name__)

CallHandler = Callable[[AgiChannel], None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[str, int]

OUTCOME_VARIABLE = "IVR_OUTCOME"
TRANSFER_REASON_VARIABLE = "IVR_TRANSFER_REASON"
# Where a transferred caller waits: a routing name the dialplan maps through its allow-list, and a priority.
QUEUE_VARIABLE = "IVR_QUEUE"
PRIORITY_VARIABLE = "IVR_PRIORITY"
# An agent's endpoint to ring first, and for how many seconds, before the queue ([hotline-advisor]).
ADVISOR_VARIABLE = "IVR_ADVISOR"
ADVISOR_RING_VARIABLE = "IVR_ADVISOR_RING"


def send_to_agent(session: AgiSession, reason: str) -> None:
    """Ask the dialplan to put the caller through to the agent queue."""
    try:
        session.set_variable(TRANSFER_REASON_VARIABLE, reason)
        session.set_variable(OUTCOME_VARIABLE, "transfer")
    except (Hangup, AgiError, OSError) as exc:
        log.info("could not flag the transfer (%s); the dialplan's fallback applies", exc)


def run_session(session: AgiSession, handler: CallHandler) -> None:
    """Run one call's flow inside the hangup/error boundary."""
    channel = AgiChannel(session)
    with call_context(channel.info.unique_id or "unknown"):
        started = time.monotonic()
        log.info("call started: flow=%r channel=%r", channel.info.flow, channel.info.channel)
        try:
            handler(channel)
        except Hangup as exc:
            log.info("call ended by hangup: %s", exc)
        except Exception:
            log.exception("flow failed; sending the caller to an agent")
            send_to_agent(session, "error")
        finally:
            log.info("call finished after %.1fs and %d AGI commands",
                     time.monotonic() - started, session.commands_sent)


class _Handler(socketserver.BaseRequestHandler):
    server: "FastAgiServer"

    def handle(self) -> None:
        sock: socket.socket = self.request
        server = self.server
        try:
            session = open_socket_session(sock, server.env_timeout, server.reply_timeout)
        except (Hangup, AgiError) as exc:
            log.warning("dropped a connection from %s before a call began: %s",
                        self.client_address[0], exc)
            return
        run_session(session, server.call_handler)


def parse_allowed_peers(text: str) -> list[Network]:
    """The Asterisk hosts that may connect: comma-separated addresses or networks (``10.0.0.5,10.1.0.0/24``).

    Checked when the server starts, so a typo stops ``ivr agi`` with its reason
    instead of refusing every call later; an empty list is refused too (no call
    could ever get in).
    """
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"agi_allowed_peers: {entry!r} is not an IP address or network "
                             f"(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
    if not networks:
        raise ValueError("agi_allowed_peers is empty: no Asterisk could connect (e.g. 127.0.0.1,::1)")
    return networks


def peer_allowed(address: str, networks: list[Network]) -> bool:
    """Whether a peer may connect; an IPv4 peer of a dual-stack socket (``::ffff:10.0.0.5``) is matched
    as IPv4, and an address that cannot be parsed is refused."""
    return _peer_allowed(address, tuple(networks))


@functools.lru_cache(maxsize=256)  # the few Asterisk hosts, asked again on every call
def _peer_allowed(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in networks)


class _CallThreads:
    """Daemon threads that each serve one connection at a time, then wait for the next.

    A connection is handed to an idle thread, or to a new one when none is idle,
    so there are never fewer threads than connections waiting and the count
    stays at the busiest moment's (at most ``max_connections``). Starting a
    thread costs the accepting thread a wait for the new one to run, under the
    GIL that the calls in progress need. A thread counts as idle before its
    connection is closed, so a peer that calls again at once finds it.
    """

    def __init__(self, serve: Callable[[socket.socket, Address], None],
                 close: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._close = close
        self._connections: queue.SimpleQueue[tuple[socket.socket, Address]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, request: socket.socket, client_address: Address) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._connections.put((request, client_address))
        if start:
            threading.Thread(target=self._run, name="fastagi-call", daemon=True).start()

    def _run(self) -> None:
        while True:
            request, client_address = self._connections.get()
            try:
                self._serve(request, client_address)
            finally:
                with self._lock:
                    self._idle += 1
                self._close(request)


class FastAgiServer(socketserver.TCPServer):
    """Threaded TCP server with a peer allow-list and a cap on live connections."""

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], call_handler: CallHandler, *,
                 allowed_peers: str = "127.0.0.1,::1", env_timeout: float = 10.0,
                 reply_timeout: float = 300.0, max_connections: int = 1000) -> None:
        self.call_handler = call_handler
        self.env_timeout = env_timeout
        self.reply_timeout = reply_timeout
        self.allowed_networks = parse_allowed_peers(allowed_peers)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._calls: set[socket.socket] = set()
        self._calls_changed = threading.Condition()
        self._call_threads = _CallThreads(self._serve, self.shutdown_request)
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def verify_request(self, request, client_address) -> bool:  # type: ignore[no-untyped-def]
        if peer_allowed(client_address[0], self.allowed_networks):
            return True
        log.warning("refused a FastAGI connection from %s: not in the allow-list", client_address[0])
        return False

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if not self._slots.acquire(blocking=False):
            log.error("refused a FastAGI connection from %s: connection limit reached",
                      client_address[0])
            self.shutdown_request(request)
            return
        self._call_threads.submit(request, client_address)

    def _serve(self, request: socket.socket, client_address: Address) -> None:
        """One connection, on a call thread; its slot is free before the peer sees the close."""
        with self._calls_changed:
            self._calls.add(request)
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._calls_changed:
                self._calls.discard(request)
                self._calls_changed.notify_all()
            self._slots.release()

    def calls_in_progress(self) -> int:
        with self._calls_changed:
            return len(self._calls)

    def drain(self, grace: float, wind_up: float = 5.0) -> int:
        """Let the calls in progress go on for up to ``grace`` seconds, then cut the rest.

        A cut call's AGI() returns in Asterisk without ``IVR_OUTCOME=done``, so the dialplan puts
        the caller through to a person; its flow sees :class:`ConnectionLost` and has ``wind_up``
        seconds to close the call record as interrupted. Returns how many calls were cut.
        """
        deadline = time.monotonic() + grace
        with self._calls_changed:
            while self._calls and (left := deadline - time.monotonic()) > 0:
                self._calls_changed.wait(left)
            cut = list(self._calls)
        if cut:
            log.warning("grace period over: handing %d call(s) back to the dialplan", len(cut))
        for sock in cut:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # it ended meanwhile
        with self._calls_changed:
            self._calls_changed.wait_for(lambda: not self._calls, wind_up)
        return len(cut)


def serve_forever(server: FastAgiServer, grace: float = 30.0) -> None:
    """Serve until SIGTERM or SIGINT; calls in progress get ``grace`` seconds to end.

    The listening socket closes at once, so Asterisk's next AGI() is refused: the dialplan tries
    the backup server, else a person. Calls still running when the grace period ends are cut and
    reach a person through the dialplan (:meth:`FastAgiServer.drain`).
    """
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: no new calls will be accepted", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread = threading.Thread(target=server.serve_forever, name="fastagi-accept", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    log.info("FastAGI server listening on %s:%d", host, port)
    stop.wait()
    server.shutdown()
    server.server_close()
    running = server.calls_in_progress()
    if running:
        log.info("%d call(s) in progress: up to %.0f s to end", running, grace)
        cut = server.drain(grace)
        log.info("stopped; %d call(s) cut at the end of the grace period", cut)
