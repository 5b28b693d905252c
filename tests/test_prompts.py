"""The prompt catalogues: every prompt a flow names exists in every language."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.prompts import LANGUAGES, MASTER_LANGUAGE, PROMPTS, P, PromptCatalogueError, load_catalogue, prompt_file
from ivr.flows.prompts.check import catalogue_mismatches, missing_used_prompts, prompt_ids_used
from ivr.flows.speech_zh import FRAGMENTS


def test_every_prompt_a_flow_uses_is_in_every_catalogue():
    assert missing_used_prompts() == []


def test_every_catalogue_has_exactly_the_master_ids_plus_its_own_fragments():
    assert catalogue_mismatches() == []


def test_mandarin_is_offered_first_and_english_is_the_master():
    assert LANGUAGES == ("zh", "en")
    assert MASTER_LANGUAGE == "en"


def test_a_prompt_marker_is_its_id_and_an_unknown_one_fails():
    assert P.welcome == "welcome"
    with pytest.raises(AttributeError, match="no prompt 'welcom'"):
        P.welcom  # noqa: B018
    assert "welcome" in dir(P)


def test_speech_fragments_are_mandarin_only_and_not_markers():
    assert FRAGMENTS <= PROMPTS["zh"].keys()
    assert not FRAGMENTS & PROMPTS["en"].keys()
    with pytest.raises(AttributeError):
        P.zh_1  # noqa: B018


def test_prompt_file_names_the_sound_asterisk_plays():
    assert prompt_file("zh", P.goodbye) == "hotline/zh/goodbye"
    assert prompt_file("zh", "zh_1e8") == "hotline/zh/zh_1e8"
    with pytest.raises(KeyError):
        prompt_file("en", "zh_1e8")


def test_the_scan_reports_an_id_missing_from_one_language(tmp_path: Path):
    flows = tmp_path / "ivr" / "flows"
    flows.mkdir(parents=True)
    (flows / "new_flow.py").write_text("def run(call):\n    call.say(P.welcome)\n    call.say(P.brand_new)\n")
    catalogues = {"en": {"welcome": "Welcome.", "brand_new": "New."}, "zh": {"welcome": "欢迎。"}}

    assert prompt_ids_used(flows) == {"welcome": ["ivr/flows/new_flow.py:2"],
                                      "brand_new": ["ivr/flows/new_flow.py:3"]}
    assert missing_used_prompts(catalogues, flows) == [
        "P.brand_new (used at ivr/flows/new_flow.py:3) is missing from zh.toml"]
    assert catalogue_mismatches(catalogues) == ["zh.toml lacks brand_new, " + ", ".join(sorted(FRAGMENTS))]


def test_a_catalogue_entry_that_is_not_text_is_refused(tmp_path: Path):
    (tmp_path / "en.toml").write_text('welcome = "Welcome."\nretries = 3\n')
    with pytest.raises(PromptCatalogueError, match="retries"):
        load_catalogue("en", tmp_path)
