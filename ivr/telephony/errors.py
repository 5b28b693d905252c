"""The AGI exception tree.

A caller hanging up is the normal end of most calls, so ``Hangup`` is not an
``AgiError``: flows let it propagate and the FastAGI boundary ends the call
quietly. Everything else is a fault that sends the caller to a person.
"""


class Hangup(Exception):
    """The channel is gone: HANGUP line, 511, ``result=-1`` or a closed socket."""


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
