"""The AGI exception tree.

A caller hanging up is the normal end of most calls, so ``Hangup`` is not an
``AgiError``: flows let it propagate and the FastAGI boundary ends the call
quietly. Everything else is a fault that sends the caller to a person.

The AMI errors (``AmiError`` and below) are a separate tree: they concern the
manager connection, not a call.
"""


class Hangup(Exception):
    """The channel is gone: HANGUP line, 511, ``result=-1`` or a closed socket."""


class ConnectionLost(Hangup):
    """The AGI connection ended without Asterisk saying the channel hung up: Asterisk died or
    restarted, the network broke, or our server cut the call while stopping. The caller did not
    necessarily hang up; the call record says ``interrupted``, not abandoned."""


class DeadChannel(Hangup):
    """Asterisk answered 511: the command is not permitted on a dead channel."""


class AgiError(Exception):
    """Asterisk refused or failed a command, or spoke outside the protocol."""


class InvalidCommand(AgiError):
    """510: Asterisk does not know the command."""


class CommandUsageError(AgiError):
    """520: the command's arguments were wrong; carries Asterisk's usage text."""


class UnsafeArgument(AgiError):
    """An argument carried a line break or NUL, which would inject a command."""


class ProtocolTimeout(AgiError):
    """Asterisk sent nothing within the configured time."""


class AmiError(Exception):
    """An AMI (Asterisk Manager Interface) fault: the base of the AMI errors below."""


class AmiConnectionError(AmiError):
    """Asterisk's manager is unreachable, did not greet as AMI, or the connection is gone."""


class AmiNotSent(AmiConnectionError):
    """The link was down, so the action never left this process: safe to try again later."""


class AmiAuthError(AmiError):
    """Asterisk refused the AMI login (wrong user or secret, or address not permitted)."""


class AmiTimeout(AmiError):
    """No reply to an action, or no matching event, within the time allowed."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``; the text gives its reason."""


class AmiUnsafeValue(AmiError, ValueError):
    """An AMI header name or value carried CR, LF or NUL, which would inject headers or actions."""
