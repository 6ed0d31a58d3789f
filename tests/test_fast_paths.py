"""The fast scan path gives the same answers as the reference path it replaced.

- words: jieba-rs (``segment``) against jieba itself, on 20,000 real SMS and the authored corpus;
- normalisation: the fast path against the full per-character pipeline;
- TF-IDF rows: the batched counting against scikit-learn's vectoriser;
- ``--workers``: output of worker processes byte-identical to the in-process scan, in input order.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpguard.runtime.baseline import DOMAIN_WORD_FREQ, DOMAIN_WORDS, segment
from nlpguard.training.corpora import nus_sms
from nlpguard.text.normalize import _normalize_fast, _normalize_full, normalize, normalize_text

from .conftest import REPO

AUTHORED = [json.loads(line)["text"] for task in ("messages", "clauses") for split in ("train", "dev", "test")
            for line in open(REPO / "data" / task / f"{split}.jsonl", encoding="utf-8")]


@pytest.fixture(scope="module")
def jieba_words():
    jieba = pytest.importorskip("jieba")
    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer()
    for word in DOMAIN_WORDS:
        tokenizer.add_word(word, freq=DOMAIN_WORD_FREQ)
    return tokenizer.lcut


@pytest.fixture(scope="module")
def real_sms(corpora):
    return [e.text for e in nus_sms(corpora)][:20000]


def test_segment_gives_jiebas_words_on_20000_real_sms(real_sms, jieba_words):
    assert len(real_sms) == 20000
    texts = [normalize_text(t) for t in real_sms]
    differing = [t for t in texts if segment(t) != jieba_words(t)]
    assert differing == []


def test_segment_gives_jiebas_words_on_the_authored_corpus_and_latin_runs(jieba_words):
    texts = [normalize_text(t) for t in AUTHORED] + [
        "我9am-5pm可以", "(t_t)好累", "利率是6%不变", "年化12.5%起", "详见www.dai-kuan.com/a_b", "k.now 再说"]
    assert [t for t in texts if segment(t) != jieba_words(t)] == []


EDGE_CASES = [
    "三天内不还钱就爆你通讯录", "通 讯 录", "通*讯*录", "爆光你", "tong xun lu", "TXL发给你家人", "ＡＢＣ１２３，你好",
    "你這個老賴", "a - b 和 c", " 前后有空格 ", "你好  世界", "中文 English 混排", "还款…明天", "好..晚", "好...晚",
    "【某银行】您的账单已出", "nmsl", "Hello World", "逾期3天，请还款！", "\u200b零宽", "🔪等着",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_fast_normalisation_equals_the_full_pipeline_on_edge_cases(text):
    full = _normalize_full(text)
    assert (normalize(text).text, normalize(text).offsets) == (full.text, full.offsets)


def test_fast_normalisation_equals_the_full_pipeline_on_real_and_authored_text(real_sms):
    texts = real_sms + AUTHORED
    fast = 0
    for text in texts:
        result = _normalize_fast(text)
        if result is not None:
            fast += 1
            full = _normalize_full(text)
            assert (result.text, result.offsets) == (full.text, full.offsets), text
    assert fast > 0.6 * len(texts)  # the fast path is the common case


@pytest.mark.parametrize("task", ["messages", "clauses"])
def test_batched_tfidf_rows_equal_scikit_learns(guard, task):
    scorer = guard.model(task).scorer
    texts = AUTHORED[:1500] + ["", "。", "a"]
    reference, fast = scorer.vectorizer_.transform(texts), scorer.transform(texts)
    assert reference.shape == fast.shape
    assert (reference != fast).nnz == 0
    assert np.array_equal(reference.indices, fast.indices) and np.array_equal(reference.indptr, fast.indptr)


def _scan(path: Path, *options: str) -> tuple[int, bytes]:
    proc = subprocess.run([sys.executable, "-m", "nlpguard", "scan", str(path), "--task", "messages",
                           "--progress", "off", *options], capture_output=True)
    return proc.returncode, proc.stdout


def test_worker_processes_write_the_in_process_output_in_input_order(tmp_path):
    lines = []
    for k, text in enumerate(AUTHORED[:1200]):
        lines.append(json.dumps({"id": f"r{k}", "text": text}, ensure_ascii=False))
        if k % 97 == 0:
            lines.append(json.dumps({"id": f"bad{k}", "text": None}))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code_one, one = _scan(source, "--workers", "1", "--batch-size", "64")
    code_two, two = _scan(source, "--workers", "2", "--batch-size", "64")
    assert code_one == code_two == 1  # the None texts are error records
    assert one == two
    ids = [json.loads(line)["id"] for line in two.decode("utf-8").splitlines()]
    assert ids == [json.loads(line)["id"] for line in lines]


def test_workers_must_be_a_positive_number_or_auto(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "你好"}\n', encoding="utf-8")
    for bad in ("0", "many"):
        proc = subprocess.run([sys.executable, "-m", "nlpguard", "scan", str(source), "--task", "messages",
                               "--workers", bad], capture_output=True, text=True)
        assert proc.returncode == 2 and "--workers" in proc.stderr and "Traceback" not in proc.stderr


def test_package_modules_import_no_circle():
    modules = {p.stem: p for p in (REPO / "nlpguard").glob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        graph[name] = deps & set(modules)

    def reaches(start, target, seen):
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start])

    assert [m for m in graph if reaches(m, m, {m})] == []
