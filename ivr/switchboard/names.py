"""Routing names of the queues (ivr/domain/routing.py) and the Asterisk queues they are.

The same table as the dialplan's allow-list ([hotline-queue] in
asterisk-conf/extensions.conf): ``general`` is the queue ``agents``, because
``[general]`` is queues.conf's settings section.
"""

from __future__ import annotations

from ivr.domain import routing

ASTERISK_QUEUE = {routing.GENERAL: "agents", routing.VIP: "vip", routing.CLAIMS: "claims",
                  routing.COMPLAINTS: "complaints"}
ROUTING_NAME = {queue: name for name, queue in ASTERISK_QUEUE.items()}


def routing_name(asterisk_queue: str) -> str:
    """The routing name of an Asterisk queue; a queue we do not route to keeps its own name."""
    return ROUTING_NAME.get(asterisk_queue, asterisk_queue)
