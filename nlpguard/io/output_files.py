"""Where ``nlpguard scan`` writes: checked before scanning, replaced only when a run completes.

An output (``--output``, ``--summary``) must not be one of the inputs — the same file or a
hard link to it — or opening it for writing would empty the input before it is read; its
folder must exist and be writable, and it must not be a folder itself. A scan writes to
``OUTPUT.partial`` beside the output and renames it over the output when the run completes,
so a run that fails or is killed never leaves a half-written file in place of a good one;
``--resume`` continues ``OUTPUT.partial`` when one is there.
"""
from __future__ import annotations

import os
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def check_output_path(option: str, value: str, inputs: list[str]) -> Path:
    """The output path of ``option``, checked against ``inputs`` (paths, ``-`` for standard input).

    Raises:
        ValueError: the path is an input, a folder, in a missing or unwritable folder, or an
            existing file that cannot be written; the message names the option and the path.
    """
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{option} {value} is a folder: name a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{option} {value}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {value}: folder {folder} is not writable")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ValueError(f"{option} {value} exists and is not writable")
        for source in inputs:
            if source != "-" and Path(source).exists() and os.path.samefile(source, path):
                raise ValueError(f"{option} {value} is also an input ({source}): writing it would destroy the input "
                                 "before it is read; choose another output file")
    return path


def partial_path(path: Path) -> Path:
    """The file a scan writes before it is renamed to ``path``."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def finish(path: Path) -> None:
    """Rename the completed ``OUTPUT.partial`` over ``path`` (atomic on one file system)."""
    os.replace(partial_path(path), path)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through its partial file, so ``path`` is never half-written."""
    partial_path(path).write_text(text, encoding="utf-8")
    finish(path)
