"""Every sentence the hotline speaks: one catalogue file per language, here.

``en.toml`` is the master list of prompt ids; ``zh.toml`` has the same ids
(plus the ``zh_*`` fragments from which ``ivr.flows.speech_zh`` speaks
Mandarin numbers, dates and money). Flows name prompts as ``P.<id>``, so an id
missing from the master list is an ``AttributeError`` at import or in a test
(tests/test_prompts.py), never silence on a live call.

``ivr prompts build`` turns each entry into ``<sounds>/hotline/<language>/<id>.wav``
(or takes a site's own recording of that id instead); the flows play it as
``prompt_file(language, id)``. English numbers, digits and dates are Asterisk's
own SAY commands; Mandarin ones are built from the fragments.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ivr.flows import speech_zh

#: Languages the hotline speaks, in the order the caller is offered them.
LANGUAGES = ("zh", "en")
#: The catalogue that defines which prompt ids exist.
MASTER_LANGUAGE = "en"

#: Prompt ids a language has beyond the master list: the fragments its own
#: speech code plays back to back (built with their silence trimmed).
SPEECH_FRAGMENTS: dict[str, frozenset[str]] = {"zh": speech_zh.FRAGMENTS}

CATALOGUE_DIR = Path(__file__).resolve().parent


class PromptCatalogueError(ValueError):
    """A catalogue file is missing or not a flat table of id = "text"."""


def load_catalogue(language: str, folder: Path = CATALOGUE_DIR) -> dict[str, str]:
    """The prompts of one language, from ``<folder>/<language>.toml``."""
    path = folder / f"{language}.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptCatalogueError(f"cannot read prompt catalogue {path}: {exc}") from exc
    wrong = sorted(key for key, text in table.items() if not isinstance(text, str) or not text.strip())
    if wrong:
        raise PromptCatalogueError(f"{path}: each entry must be id = \"text\"; not so for {', '.join(wrong)}")
    return table


#: language -> prompt id -> text.
PROMPTS: dict[str, dict[str, str]] = {language: load_catalogue(language) for language in LANGUAGES}


class PromptIds:
    """``P.welcome == "welcome"``; an id not in the master catalogue raises AttributeError."""

    __slots__ = ("_ids",)

    def __init__(self, ids: frozenset[str]) -> None:
        object.__setattr__(self, "_ids", ids)

    def __getattr__(self, name: str) -> str:
        if name in self._ids:
            return name
        raise AttributeError(f"no prompt {name!r} in ivr/flows/prompts/{MASTER_LANGUAGE}.toml")

    def __dir__(self) -> list[str]:
        return sorted(self._ids)


P = PromptIds(frozenset(PROMPTS[MASTER_LANGUAGE]))


def prompt_file(language: str, prompt_id: str) -> str:
    """The Asterisk sound name (no extension) of a prompt: ``hotline/<language>/<id>``."""
    if prompt_id not in PROMPTS.get(language, {}):
        raise KeyError(f"no prompt {prompt_id!r} in language {language!r}")
    return f"hotline/{language}/{prompt_id}"
