"""Flow name (the path in ``agi://host:4573/<flow>``) -> flow function.

Adding a flow: one file in ``ivr/flows/``, one line here, one line in the
dialplan, one test file.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.flows.hotline import hotline
from ivr.flows.menu import Conversation
from ivr.flows.renewal_reminder import renewal_reminder

Flow = Callable[[Conversation], None]

FLOWS: dict[str, Flow] = {
    "hotline": hotline,
    "renewal_reminder": renewal_reminder,  # outbound: a customer who answered a campaign call
}
