"""A TCP proxy a test controls, in front of a shared server (Redis, RabbitMQ, PostgreSQL): cut it to
simulate the server going away, restore it to bring it back, without touching the server itself.

Cut, every open connection is closed at once (both ways) and each new one is
accepted and closed again, the way a client sees a server that has died or a
network that drops it; ``connections`` counts every connection a client
opened, cut or not, so a test can also prove that nothing tried to connect.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:``port`` (a free one by default) to ``target_host``:``target_port``."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.connections = 0  # opened by clients since the start, cut or not
        self._cut = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name=f"tcp-proxy-{self.port}", daemon=True)

    @classmethod
    def in_front_of(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of ``url`` (redis://, amqp://, postgresql://...)."""
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"{url!r} names no host and port to put a proxy in front of")
        return cls(parts.hostname, parts.port)

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        """The server is gone: open connections closed, new ones refused (accepted and closed)."""
        with self._lock:
            self._cut = True
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        """The server is back: new connections are forwarded again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self.connections += 1
                cut = self._cut
            if cut:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                cut = self._cut  # cut while the server was being reached
                if not cut:
                    self._open.update((client, server))
            if cut:
                _close(client)
                _close(server)
                continue
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
