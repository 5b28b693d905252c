"""What tests do when a real part (the Asterisk sandbox, Chromium, a server) is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(part: str, reason: str) -> NoReturn:
    """Skip the test with the reason; on CI (``CI=true``) fail it instead, since CI must run everything."""
    (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(f"{part} unavailable: {reason}")
    raise AssertionError("unreachable")  # pytest.skip and pytest.fail raise
