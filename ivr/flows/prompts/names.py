"""Recorded names: what the IVR says for a person or place from the database.

There is no speech synthesis at call time, so ``ivr prompts build`` renders a
sales agent's name and branch into ``hotline/names/agent_<code>``; a flow
plays it when it exists and reads the agent code otherwise.
"""

from __future__ import annotations

import re

NAMES_FOLDER = "hotline/names"
_CODE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")


def agent_name_id(agent_code: str) -> str:
    """The id of an agent's "name, branch" recording; '' for a code unusable in a file name."""
    return f"agent_{agent_code}" if _CODE.match(agent_code) else ""


def agent_name_sound(agent_code: str) -> str:
    """The sound name of an agent's recording, for the flows."""
    name_id = agent_name_id(agent_code)
    if not name_id:
        raise ValueError(f"agent code unusable in a file name: {agent_code!r}")
    return f"{NAMES_FOLDER}/{name_id}"


def agent_name_text(name: str, branch: str) -> str:
    """What the recording says."""
    return f"{name}，{branch}"
