"""A scripted Asterisk manager for tests: it replays a recorded AMI conversation.

Scripts live in ``tests/fixtures/ami/*.txt``, one directive per line, written
the way the conversation looked on the wire (recorded from the sandbox):

    # a comment
    << Asterisk Call Manager/11.0.0     Asterisk sends this line (CRLF added);
    <<                                  "<<" alone sends the empty line that ends a message
    >> Action: Ping                     the client must send a message with these headers;
    >> ActionID: a2                     ">>" alone ends the expected message
    >>
    -- sleep 0.2                        pause before the next directive
    -- close                            hang up on the client
    -- repeat                           answer every further client message with the
                                        script that follows (one ">>" message, then "<<")

Consecutive ``>>`` messages may arrive in any order (several client threads);
each is matched by its headers other than ``ActionID``. The ActionID recorded
in a ``>>`` message stands for the one the client really sent, so ``<<`` lines
``ActionID: a2`` are rewritten to it. At the end of the script the server keeps
reading (and recording) what the client sends without answering, until the
client hangs up; a Logoff the script does not expect is answered with Goodbye
and a hang-up, as Asterisk does. Each connection replays the script anew.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ivr.telephony.ami import AmiMessage, MessageReader, parse_message

#: The secret of user ``hotline`` in the sandbox's manager.conf, as in every recording.
RECORDED_SECRET = "hotline-sandbox-secret"


@dataclass
class _Step:
    kind: str  # "send", "expect", "sleep", "close", "repeat"
    lines: list[str] = field(default_factory=list)  # send: wire lines; expect: headers
    seconds: float = 0.0


def parse_script(text: str) -> list[_Step]:
    steps: list[_Step] = []
    current: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        marker, rest = raw[:2], raw[3:] if len(raw) > 2 else ""
        if marker == "<<":
            if not (steps and steps[-1].kind == "send"):
                steps.append(_Step("send"))
            steps[-1].lines.append(rest)
        elif marker == ">>":
            if rest:
                current.append(rest)
            else:
                steps.append(_Step("expect", current))
                current = []
        elif marker == "--":
            word, _, argument = rest.partition(" ")
            steps.append(_Step(word, seconds=float(argument or 0)))
        else:
            raise ValueError(f"unknown AMI script line: {raw!r}")
    if current:
        steps.append(_Step("expect", current))
    return steps


def _matches(expected: list[tuple[str, str]], message: AmiMessage) -> bool:
    return all(message.get(name) == value for name, value in expected if name.lower() != "actionid")


class _ClientGone(Exception):
    pass


class AmiReplayServer:
    """Plays Asterisk's side of a script on 127.0.0.1; records what the client sent.

    ``received`` holds every client message (parsed), ``raw`` the bytes exactly
    as sent, ``errors`` any departure from the script (tests assert it is empty).
    """

    def __init__(self, script: str | Path) -> None:
        text = script.read_text(encoding="utf-8") if isinstance(script, Path) else script
        self.steps = parse_script(text)
        self.received: list[AmiMessage] = []
        self.raw = bytearray()
        self.errors: list[str] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() polls, so stop() is prompt
        self.port = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._stopped = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="ami-replay", daemon=True)

    def __enter__(self) -> "AmiReplayServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already hung up
        self._thread.join(5)

    def wait_received(self, count: int, timeout: float = 5.0) -> list[AmiMessage]:
        """Wait until the client has sent ``count`` messages in all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"client sent {len(self.received)} AMI messages, expected {count}")
            return list(self.received)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # stopped
            conn.settimeout(None)
            self.connections += 1
            self._conn = conn
            with conn:
                try:
                    self._play(conn, _Inbox(conn, self.raw))
                except _ClientGone:
                    pass  # the client hung up: the normal end of a conversation
                except OSError as exc:
                    if not self._stopped.is_set():
                        self.errors.append(f"socket error: {exc}")

    def _play(self, conn: socket.socket, inbox: "_Inbox") -> None:
        self._run(conn, inbox, self.steps, ids={})
        while True:  # end of script: listen, never answer
            self._next_message(inbox)

    def _run(self, conn: socket.socket, inbox: "_Inbox", steps: list[_Step], ids: dict[str, str]) -> None:
        index = 0
        while index < len(steps):
            step = steps[index]
            if step.kind == "expect":
                end = index
                while end < len(steps) and steps[end].kind == "expect":
                    end += 1
                self._receive_group(inbox, steps[index:end], ids)
                index = end
                continue
            if step.kind == "repeat":
                while True:
                    self._run(conn, inbox, steps[index + 1:], ids={})
            if step.kind == "send":
                conn.sendall(self._render(step.lines, ids))
            elif step.kind == "sleep":
                time.sleep(step.seconds)
            elif step.kind == "close":
                conn.shutdown(socket.SHUT_RDWR)
                raise _ClientGone
            else:
                raise ValueError(f"unknown AMI script step: -- {step.kind}")
            index += 1

    def _receive_group(self, inbox: "_Inbox", group: list[_Step], ids: dict[str, str]) -> None:
        waiting = [list(parse_message(step.lines).headers) for step in group]
        while waiting:
            message = self._next_message(inbox)
            found = next((expected for expected in waiting if _matches(expected, message)), None)
            if found is None and message.get("Action") == "Logoff":
                self._goodbye(inbox, message)
            if found is None:
                self.errors.append(f"unexpected client message {message.headers}; "
                                   f"expected one of {waiting}")
                raise _ClientGone
            waiting.remove(found)
            recorded_id = {name.lower(): value for name, value in found}.get("actionid")
            if recorded_id is not None and message.action_id is not None:
                ids[recorded_id] = message.action_id

    @staticmethod
    def _goodbye(inbox: "_Inbox", logoff: AmiMessage) -> None:
        """An unscripted Logoff is answered as Asterisk does: Goodbye, then hang up."""
        inbox.conn.sendall(f"Response: Goodbye\r\nActionID: {logoff.action_id}\r\n"
                           "Message: Thanks for all the fish.\r\n\r\n".encode())
        inbox.conn.shutdown(socket.SHUT_RDWR)
        raise _ClientGone

    def _next_message(self, inbox: "_Inbox") -> AmiMessage:
        message = inbox.next_message()
        with self._changed:
            self.received.append(message)
            self._changed.notify_all()
        return message

    @staticmethod
    def _render(lines: list[str], ids: dict[str, str]) -> bytes:
        out = []
        for line in lines:
            name, colon, value = line.partition(": ")
            if colon and name.lower() == "actionid" and value in ids:
                line = f"{name}: {ids[value]}"
            out.append(line + "\r\n")
        return "".join(out).encode("utf-8")


class _Inbox:
    """The client's messages on one connection, one at a time."""

    def __init__(self, conn: socket.socket, raw: bytearray) -> None:
        self.conn = conn
        self._reader = MessageReader()
        self._queue: deque[AmiMessage] = deque()
        self._raw = raw  # the server's record of every byte the client sent

    def next_message(self) -> AmiMessage:
        while not self._queue:
            data = self.conn.recv(65536)
            if not data:
                raise _ClientGone
            self._raw += data
            self._reader.feed(data)
            self._queue.extend(self._reader.messages())
        return self._queue.popleft()
