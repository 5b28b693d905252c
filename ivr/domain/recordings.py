"""Where recordings live: under the recordings root, in dated folders, named
only from server-generated ids (never from anything the caller sent)."""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from ivr.config import get_settings

_SAFE_REF = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# Asterisk records as its own user; it belongs to the folder's group, and the
# setgid bit hands that group down to every dated folder we create.
FOLDER_MODE = 0o2770


def new_recording_path(kind: str, ref: str, now: datetime) -> str:
    """``ivr/<kind>/<YYYY-MM-DD>/<ref>-<HHMMSS>`` (no extension), folder created."""
    if not (_SAFE_REF.match(kind) and _SAFE_REF.match(ref)):
        raise ValueError(f"unsafe recording name: {kind!r}/{ref!r}")
    relative = f"ivr/{kind}/{now:%Y-%m-%d}/{ref}-{now:%H%M%S}"
    _make_folders(Path(get_settings().recordings_dir), Path(relative).parent)
    return relative


def _make_folders(root: Path, relative: Path) -> None:
    folder = root
    for part in relative.parts:
        folder = folder / part
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            os.chmod(folder, FOLDER_MODE)


def absolute_path(relative: str) -> Path:
    """A stored relative recording path, resolved under the recordings root."""
    root = Path(get_settings().recordings_dir).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"recording path escapes the recordings root: {relative!r}")
    return path
