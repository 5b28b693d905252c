"""Test helpers for the Asterisk sandbox: its CLI and its log.

Everything goes through ``scripts/asterisk-sandbox``, which alone knows the
sandbox's layout; the sandbox folder comes from ``IVR_SANDBOX_DIR`` (settings
field ``sandbox_dir``). Tests assert on what Asterisk did by reading its
``full`` log, which carries dialplan steps, AGI traffic and DTMF events:

    <PJSIP/caller-00000001>AGI Tx >> agi_callerid: 13800138000
    <PJSIP/caller-00000001>AGI Rx << SAY NUMBER 1234 ""
    <PJSIP/caller-00000001>AGI Tx >> 200 result=0
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from ivr.config import PROJECT_ROOT, get_settings

SANDBOX_SCRIPT = PROJECT_ROOT / "scripts" / "asterisk-sandbox"

#: Exit status of scripts/asterisk-sandbox when the sandbox cannot exist here.
EXIT_CANNOT_BUILD = 3


class SandboxError(RuntimeError):
    """scripts/asterisk-sandbox failed; ``cannot_build`` when this machine cannot host it."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode

    @property
    def cannot_build(self) -> bool:
        return self.returncode == EXIT_CANNOT_BUILD


class Sandbox:
    """The sandboxed Asterisk, driven through scripts/asterisk-sandbox.

    ``instance`` holds the ``IVR_SANDBOX_*`` settings of an instance other than the
    default one (ports, FastAGI URL, system name: scripts/asterisk-sandbox --help),
    given to every command, so a second sandbox runs beside the first.
    """

    def __init__(self, sandbox_dir: str | os.PathLike[str] | None = None,
                 instance: Mapping[str, str] | None = None) -> None:
        self.sandbox_dir = Path(sandbox_dir or get_settings().sandbox_dir)
        self.instance = dict(instance or {})

    def _run(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
        env = {**os.environ, **self.instance, **(env or {}), "IVR_SANDBOX_DIR": str(self.sandbox_dir)}
        result = subprocess.run([str(SANDBOX_SCRIPT), *args], env=env, capture_output=True,
                                text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            reason = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise SandboxError(f"asterisk-sandbox {' '.join(args)}: "
                               f"{reason[-1] if reason else 'exit ' + str(result.returncode)}",
                               result.returncode)
        return result.stdout

    def build(self, copy_from: "Sandbox | None" = None) -> None:
        """Build the chroot; from ``copy_from``'s (a built sandbox) in seconds, prompts included."""
        self._run("build", env={"IVR_SANDBOX_COPY_FROM": str(copy_from.sandbox_dir)} if copy_from else None)

    def install_conf(self, database_url: str | None = None) -> None:
        """Install asterisk-conf/ and build the prompts; agents' name recordings
        come from ``database_url`` (default: the configured database)."""
        self._run("install-conf", env={"IVR_DATABASE_URL": database_url} if database_url else None)

    def start(self) -> None:
        self._run("start", timeout=60)

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def restart(self) -> None:
        """Stop and start Asterisk, as an upgrade or a crash would: every AMI
        connection drops and dynamic queue members are forgotten."""
        self._run("restart", timeout=120)

    def crash(self) -> None:
        """Kill Asterisk (SIGKILL) and start it again: unlike ``restart``, nothing is said on the way
        down, so an Originate in flight never gets its OriginateResponse."""
        self._run("crash", timeout=120)

    def is_running(self) -> bool:
        try:
            self._run("status", timeout=10)
        except SandboxError:
            return False
        return True

    def cli(self, command: str) -> str:
        """Output of an Asterisk CLI command (``asterisk -rx``)."""
        return self._run("cli", command, timeout=30)

    def channels(self) -> dict[str, tuple[str, str]]:
        """Channel name -> (state, bridge id) from `core show channels concise`, whose fields are
        Channel!Context!Extension!Priority!State!Application!Data!CallerID!Accountcode!PeerAccount!
        AMAFlags!Duration!BridgeID!Uniqueid."""
        fields = (line.split("!") for line in self.cli("core show channels concise").splitlines())
        return {f[0]: (f[4], f[12]) for f in fields if len(f) > 12}

    @property
    def pid(self) -> int:
        """Asterisk's process id (scripts/asterisk-sandbox writes it when it starts Asterisk)."""
        return int((self.sandbox_dir / "asterisk.pid").read_text())

    @property
    def log_path(self) -> Path:
        """Host path of Asterisk's full log."""
        return Path(self._run("log-path", timeout=10).strip())

    def log_watcher(self) -> "LogWatcher":
        """A watcher that sees only what is logged from now on."""
        return LogWatcher(self.log_path)


class LogWatcher:
    """Waits for lines in a growing log, from the moment it was created.

    Each ``wait_for`` scans forward from just after the previous match, so
    consecutive waits assert an order. ``text`` holds everything seen since
    creation, for assertions that something did *not* happen.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = self.path.stat().st_size if self.path.exists() else 0
        self._partial = b""
        self._lines: list[str] = []
        self._next = 0  # index in _lines where the next wait_for starts

    def _read_new(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        self._lines.extend(line.decode("utf-8", errors="replace") for line in complete)

    @property
    def text(self) -> str:
        self._read_new()
        return "\n".join(self._lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """The first match of ``pattern`` in a line logged after the previous match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            self._read_new()
            for index in range(self._next, len(self._lines)):
                match = regex.search(self._lines[index])
                if match:
                    self._next = index + 1
                    return match
            if time.monotonic() >= deadline:
                tail = "\n".join(self._lines[-15:])
                raise TimeoutError(f"no log line matching {regex.pattern!r} within {timeout} s "
                                   f"in {self.path}; last lines:\n{tail}")
            time.sleep(0.05)

    def wait_for_channel(self, extension: str, context: str = "from-sandbox",
                         timeout: float = 10.0) -> str:
        """The channel name (``PJSIP/caller-0000002a``) of the next call that enters ``extension``."""
        match = self.wait_for(rf"Executing \[{re.escape(extension)}@{re.escape(context)}:1\] "
                              rf'\w+\("([^"]+)"', timeout)
        return match.group(1)
