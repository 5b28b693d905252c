"""``FakeAsterisk`` over TCP: the AMI wire protocol in front of the fake peer, for a real ``AmiLink``.

The unit tests hand ``FakeAsterisk`` to the code as the link itself; the
campaign pacing benchmark (bench/campaign_pacing.py) needs the real link in
several dialer processes, so it serves the fake on 127.0.0.1 instead.
"""

from __future__ import annotations

import socket
import threading
import time

from ivr.telephony.ami import AmiMessage, MessageReader
from ivr.testing.fake_ami import FakeAsterisk

__all__ = ["FakeAmiServer"]

# The Q.850 hangup cause Asterisk gives with each OriginateResponse reason of a call not answered.
HANGUP_CAUSES = {1: 21, 3: 19, 5: 17, 8: 34}  # rejected, no answer, busy, congestion


class FakeAmiServer:
    """``FakeAsterisk`` over TCP on 127.0.0.1: the AMI wire protocol in front of it, for a real ``AmiLink``.

    Greets as Asterisk, accepts any Login and then says ``FullyBooted``, answers
    Logoff with Goodbye, and hands every other action to ``asterisk`` (an
    Originate gets its reply and, under the same ActionID, its
    ``OriginateResponse``, after the channel's ``Hangup`` with its cause when not
    answered). One thread per connection, so several dialer
    processes may each keep a link. ``originate_times`` holds each Originate's
    arrival (``time.time()``) and ChannelId, in arrival order (bench/campaign_pacing.py).
    """

    BANNER = b"Asterisk Call Manager/11.0.0\r\n"  # Asterisk 22's AMI version

    def __init__(self, asterisk: FakeAsterisk | None = None) -> None:
        self.asterisk = asterisk or FakeAsterisk()
        self.originate_times: list[tuple[float, str]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="fake-ami-server", daemon=True)

    def __enter__(self) -> "FakeAmiServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already hung up

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name="fake-ami-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = MessageReader()
        with conn:
            try:
                conn.sendall(self.BANNER)
                while data := conn.recv(65536):
                    reader.feed(data)
                    for message in reader.messages():
                        if not self._answer(conn, message):
                            return
            except OSError:
                return  # the client went away, or stop()

    def _answer(self, conn: socket.socket, message: AmiMessage) -> bool:
        """Reply to one action; False when the connection is to end (Logoff)."""
        action_id = message.action_id or ""
        name = message.get("Action") or ""
        if name == "Login":
            conn.sendall(_wire([("Response", "Success"), ("ActionID", action_id),
                                ("Message", "Authentication accepted")])
                         + _wire([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")]))
            return True
        if name == "Logoff":
            conn.sendall(_wire([("Response", "Goodbye"), ("ActionID", action_id),
                                ("Message", "Thanks for all the fish.")]))
            return False
        action = {header: value for header, value in reversed(message.headers) if header.lower() != "actionid"}
        if name != "Originate":
            reply = self.asterisk.send_action(action)
            conn.sendall(_wire([*reply.headers, ("ActionID", action_id)]))
            return True
        with self._lock:
            self.originate_times.append((time.time(), action.get("ChannelId", "")))
        reply, events = self.asterisk.send_action_with_events(action, "OriginateResponse")
        response = events.wait()
        hangup = b""
        if not response.is_success:  # Asterisk reports the failed channel's Hangup, with its cause, as well
            cause = HANGUP_CAUSES.get(int(response.get("Reason") or 0), 0)
            hangup = _wire([("Event", "Hangup"), ("Privilege", "call,all"), ("Uniqueid", action.get("ChannelId", "")),
                            ("Cause", str(cause))])
        conn.sendall(_wire([*reply.headers, ("ActionID", action_id)]) + hangup
                     + _wire([*response.headers, ("ActionID", action_id)]))
        return True


def _wire(headers: list[tuple[str, str]]) -> bytes:
    return ("".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n").encode()
