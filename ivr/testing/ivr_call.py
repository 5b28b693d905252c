"""Driving a real call through the IVR the way a caller does: listen, then key.

Asterisk drops keys sent between AGI commands, so every key is sent only once
Asterisk's log shows the command that listens for it (``GET DATA`` for an
entry or a menu, ``STREAM FILE`` with escape digits for an interruptible prompt).
"""

from __future__ import annotations

import re
import time

from ivr.testing.asterisk import LogWatcher


def agi_rx(channel: str, command: str) -> str:
    """Regex for a command our server sent on ``channel``, as Asterisk logs it."""
    return rf"<{re.escape(channel)}>AGI Rx << {command}"


class IvrCall:
    """One placed call, its Asterisk channel, and the log to follow it by."""

    def __init__(self, sip_caller, log: LogWatcher, extension: str, ani: str,
                 display_name: str | None = None, port: int = 5060) -> None:
        """Call ``extension`` on the Asterisk whose SIP port is ``port`` and whose log is ``log``."""
        sip = sip_caller.call(extension, ani=ani, display_name=display_name, port=port)
        sip.wait_answered()
        self._follow(sip, log, log.wait_for_channel(extension))

    @classmethod
    def answered(cls, sip, log: LogWatcher, context: str, timeout: float = 20.0) -> "IvrCall":
        """A call Asterisk placed to us (a campaign call ``sip`` that a customer answered), followed by
        the channel that next enters ``context``."""
        sip.wait_answered(timeout)
        call = cls.__new__(cls)
        call._follow(sip, log, log.wait_for_channel("s", context, timeout))
        return call

    @classmethod
    def following(cls, sip, log: LogWatcher, channel: str) -> "IvrCall":
        """The call ``sip`` already known to be ``channel`` in ``log``."""
        call = cls.__new__(cls)
        call._follow(sip, log, channel)
        return call

    @classmethod
    def by_caller_number(cls, sip, log: LogWatcher, ani: str, timeout: float = 30.0) -> "IvrCall":
        """A call ``sip`` placed while others were placed too: "the next channel to enter the
        extension" could be anyone's, so its channel is the one whose AGI environment carries ``ani``
        (each caller of such a batch has a number of its own). ``log`` must predate the call."""
        match = log.wait_for(rf"<([^>]+)>AGI Tx >> agi_callerid: {re.escape(ani)}\s*$", timeout)
        return cls.following(sip, log, match.group(1))

    def _follow(self, sip, log: LogWatcher, channel: str) -> None:
        self.log, self.sip, self.channel = log, sip, channel

    def expect(self, command: str, timeout: float = 60) -> re.Match[str]:
        """Wait for the server to send ``command`` (a regex) on this channel."""
        return self.log.wait_for(agi_rx(self.channel, command), timeout=timeout)

    def asked(self, prompt: str, language: str = r"\w+", timeout: float = 60) -> None:
        """Wait until the IVR listens for keys after ``prompt``."""
        self.expect(rf"GET DATA hotline/{language}/{prompt}\b", timeout)

    def press(self, prompt: str, key: str, language: str = r"\w+") -> None:
        """Answer a one-key menu."""
        self.asked(prompt, language)
        self.sip.send_dtmf(key)

    def key_in(self, prompt: str, digits: str, language: str = r"\w+") -> None:
        """Answer an entry prompt: the digits, then ``#``."""
        self.asked(prompt, language)
        self.sip.send_dtmf(digits + "#")

    def hang_up(self) -> None:
        self.sip.hangup()
        self.sip.wait_disconnected()

    def wait_end(self, timeout: float = 30) -> None:
        """Wait for Asterisk to hang up on the caller."""
        self.sip.wait_disconnected(timeout)

    def saw(self, command: str) -> bool:
        """Whether the server sent ``command`` on this channel so far (regex)."""
        return re.search(agi_rx(self.channel, command), self.log.text) is not None


def complain_about_a_claim(call: IvrCall) -> str:
    """From the main menu: a complaint about a claim, two seconds of description recorded and ended
    with ``#``; the ticket number the IVR reads back."""
    call.press("main_menu", "3", "en")
    call.press("complaint_subject", "2")
    call.expect(r'RECORD FILE "[^"]+/ivr/complaints/')
    time.sleep(2)
    call.sip.send_dtmf("#")
    return call.expect(r'SAY DIGITS "(\d{10})" ').group(1)
