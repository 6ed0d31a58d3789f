"""The package's resources folder (``nlpguard/resources``) and the disguise vocabulary in it, read once."""
from __future__ import annotations

import functools
import json
from pathlib import Path

RESOURCES = Path(__file__).parent.parent / "resources"


@functools.lru_cache(maxsize=1)
def disguises() -> dict:
    """``resources/disguises.json``: ``terms`` (plain term -> disguised spellings) and ``no_recovery``."""
    return json.loads((RESOURCES / "disguises.json").read_text(encoding="utf-8"))
