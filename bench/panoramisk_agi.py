#!/usr/bin/env python3
"""The hotline's flows served by panoramisk's FastAGI server: the peer of ``ivr agi`` in
bench/agi_load.py. Not part of the product; install with ``pip install -e '.[bench]'``.

"The same work", exactly: panoramisk (1.4) owns the socket, reads the AGI environment with
its own parser, writes each command and parses each reply with its own ``parse_agi_result``
on its asyncio loop. Every call runs our real flow (``ivr.flows.runner.handle_call`` inside
``ivr.telephony.fastagi.run_session``, the same boundary as ``ivr agi``) with the same
``AgiChannel``, the same AGI commands and the same domain services and database look-ups,
in a worker thread: panoramisk's route must be a coroutine (Python 3.11 has no
``asyncio.coroutine`` for a plain function), and our flows and domain services are
synchronous, so the endpoint hands the call to ``loop.run_in_executor`` and each AGI command
comes back to the loop through ``asyncio.run_coroutine_threadsafe(request.send_command(...))``.
The executor has as many threads as ``ivr agi`` may have connections
(``agi_max_connections``), so neither server queues calls behind a smaller thread pool.

Usage: ``IVR_DATABASE_URL=... bench/panoramisk_agi.py --port 4600``
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from panoramisk.fast_agi import Application, Request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.config import get_settings  # noqa: E402
from ivr.flows.registry import FLOWS  # noqa: E402
from ivr.flows.runner import handle_call  # noqa: E402
from ivr.logs import configure_logging  # noqa: E402
from ivr.telephony.agi import AgiSession, command_line  # noqa: E402
from ivr.telephony.errors import AgiError, Hangup  # noqa: E402
from ivr.telephony.fastagi import run_session  # noqa: E402


class PanoramiskSession(AgiSession):
    """pyst2's command catalogue (as ``AgiSession`` has it) over a panoramisk request: every
    command goes through ``Request.send_command`` on the event loop."""

    def __init__(self, request: Request, loop: asyncio.AbstractEventLoop) -> None:
        # Deliberately not AgiSession.__init__: panoramisk has read the environment.
        self._request = request
        self._loop = loop
        self._got_sighup = False
        self.commands_sent = 0
        self.env = dict(request.headers)

    def execute(self, command: str, *args: object) -> dict[str, tuple[str, str]]:
        line = command_line(command, *args)
        reply = asyncio.run_coroutine_threadsafe(self._request.send_command(line), self._loop).result()
        self.commands_sent += 1
        return _pyst_result(reply)


def _pyst_result(reply: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """panoramisk's parsed reply in the shape pyst2's commands read; its errors as ours."""
    error = reply.get("error")
    if error in ("AGIResultHangup", "AGIAppError") or reply.get("status_code") in (0, 511):
        raise Hangup(reply.get("msg") or "end of stream")
    if error or reply.get("status_code") != 200:
        raise AgiError(f"{error}: {reply.get('msg', '')}")
    return {key: value for key, value in reply.items() if isinstance(value, tuple)}


def application(executor: ThreadPoolExecutor) -> Application:
    app = Application()

    async def call(request: Request) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, run_session, PanoramiskSession(request, loop), handle_call)

    for flow in FLOWS:
        app.add_route(flow, call)
    return app


async def serve(host: str, port: int) -> None:
    settings = get_settings()
    with ThreadPoolExecutor(max_workers=settings.agi_max_connections, thread_name_prefix="call") as executor:
        app = application(executor)
        server = await asyncio.start_server(app.handler, host, port, backlog=1024)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The hotline's flows on panoramisk's FastAGI server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
