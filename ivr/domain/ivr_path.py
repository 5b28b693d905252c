"""A call's path through the IVR in a few words, for the person who takes the call or reads its history.

The call record keeps every step (``ivr_events``: prompts, keys, checks); an
agent needs what the caller wanted, whether they proved who they are and what
they got done. Prompts and raw key entries are left out: the service steps
already say what the keys chose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Steps too fine-grained for a summary (each menu shows a prompt and an input per try).
DETAIL_KINDS = ("prompt", "input")

# The service a step belongs to: the last service a caller used is their intent
# (the flows' ``CallState.intent``, which routing reads, works the same way).
_INTENT_OF_KIND = {"summary": "policy_lookup", "policy_read": "policy_lookup", "claim": "claim",
                   "complaint": "complaint", "agent_check": "agent_check"}
_INTENT_OF_STEP = {("verification", "agent_pin"): "sales_agent_line"}


@dataclass(frozen=True)
class PathStep:
    kind: str
    name: str
    value: str


@dataclass(frozen=True)
class IvrPath:
    intent: str  # "" when the caller used no service
    verified: bool
    steps: tuple[str, ...]  # what they did, in order, in words


def summarise_path(steps: Iterable[PathStep], verified: bool) -> IvrPath:
    """The intent, the verification and the service steps of one call (``steps`` in call order)."""
    intent, words = "", []
    for step in steps:
        if step.kind in DETAIL_KINDS:
            continue
        intent = _INTENT_OF_STEP.get((step.kind, step.name)) or _INTENT_OF_KIND.get(step.kind) or intent
        words.append(describe_step(step))
    return IvrPath(intent, verified, tuple(words))


def describe_step(step: PathStep) -> str:
    """One step in words; every value is shown as stored (the page escapes it)."""
    words = _STEP_WORDS.get(step.kind)
    if words is None:
        return " ".join(part for part in (step.kind, step.name, step.value) if part)
    if step.kind == "identification" and step.name == "ani":
        words = "identified by caller number: {value_words}"
    return words.format(kind=step.kind, name=step.name, value=step.value,
                        name_words=step.name.replace("_", " "), value_words=step.value.replace("_", " "))


# How each kind of step reads; {name_words} and {value_words} have underscores as spaces.
_STEP_WORDS = {
    "identification": "identified by {name_words}: {value_words}",
    "verification": "{name_words} check: {value}",
    "summary": "heard the summary of {value} {name}",
    "policy_read": "heard policy {value}",
    "claim": "claim {value} {name}",
    "complaint": "complaint {value} {name}",
    "agent_check": "checked sales agent {name}: {value}",
    "recording": "left a {name} recording",
    "callback": "callback {name}",
    "closed": "centre closed: offered a callback ({value})",
    "transfer": "asked for a person: {value}",
    "route": "queued in {name} ({value})",
    "advisor": "offered first to their advisor ({value})",
}
