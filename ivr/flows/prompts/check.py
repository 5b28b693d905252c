"""Are the catalogues complete? Checked by tests/test_prompts.py and by ``ivr prompts build``.

Two questions, so that a missing prompt fails a test or the build and never
plays silence on a live call:

- does every ``P.<id>`` written in ``ivr/flows/`` exist in every language?
  (read from the source with ``ast``, so code paths no test reaches count too)
- does every catalogue have exactly the master's ids, plus its own speech
  fragments (``zh``: ``ivr.flows.speech_zh.FRAGMENTS``)?
"""

from __future__ import annotations

import ast
from pathlib import Path

from ivr.flows import prompts
from ivr.flows.prompts import MASTER_LANGUAGE, SPEECH_FRAGMENTS

FLOWS_DIR = Path(__file__).resolve().parent.parent


def prompt_ids_used(folder: Path = FLOWS_DIR) -> dict[str, list[str]]:
    """prompt id -> where ``P.<id>`` is written (``file:line``), in every module under ``folder``."""
    used: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "P" and not node.attr.startswith("__")):
                used.setdefault(node.attr, []).append(f"{path.relative_to(folder.parent.parent)}:{node.lineno}")
    return used


def missing_used_prompts(catalogues: dict[str, dict[str, str]] | None = None,
                         folder: Path = FLOWS_DIR) -> list[str]:
    """One line per prompt id a flow uses that some catalogue lacks (default: ours)."""
    catalogues = prompts.PROMPTS if catalogues is None else catalogues
    problems = []
    for prompt_id, places in sorted(prompt_ids_used(folder).items()):
        lacking = [f"{language}.toml" for language, texts in catalogues.items() if prompt_id not in texts]
        if lacking:
            problems.append(f"P.{prompt_id} (used at {', '.join(places)}) is missing from {', '.join(lacking)}")
    return problems


def catalogue_mismatches(catalogues: dict[str, dict[str, str]] | None = None) -> list[str]:
    """One line per catalogue whose ids differ from the master's (plus its own fragments)."""
    catalogues = prompts.PROMPTS if catalogues is None else catalogues
    master = set(catalogues[MASTER_LANGUAGE])
    problems = []
    for language, texts in catalogues.items():
        expected = master | SPEECH_FRAGMENTS.get(language, frozenset())
        if missing := sorted(expected - set(texts)):
            problems.append(f"{language}.toml lacks {', '.join(missing)}")
        if extra := sorted(set(texts) - expected):
            problems.append(f"{language}.toml has ids that are not in {MASTER_LANGUAGE}.toml: {', '.join(extra)}")
    return problems


def catalogue_problems() -> list[str]:
    """Everything that would make a call play a prompt that was never built."""
    return missing_used_prompts() + catalogue_mismatches()
