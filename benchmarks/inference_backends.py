"""Messages/s of four ways to score the same real SMS, side by side in one run, plus server latency.

On the same N messages (default 20,000 real SMS from ../shared/corpora/nus_sms_zh;
the authored messages, cycled, when the corpora are absent) and the same model
(the packaged in-house BERT ``zh-bert-small``, exported to ONNX first):

  (a) naive   ``transformers.pipeline("text-classification")``, one message per call
  (b) torch   ``Guard.scan`` with the PyTorch backend (interface records with evidence)
  (c) onnx    ``Guard.scan`` with the onnxruntime backend (fp32), and onnx-int8
  (d) baseline ``Guard.scan`` with the embedded default TF-IDF model

Each runs in its own process (so its peak resident memory is its own), after
loading and a warm-up on 64 other messages; model loading is reported apart.
Each approach scores the messages ``--repeats`` times and the fastest pass
counts, which evens out the noise of a shared machine for all alike.
Then it prints the ratios to (a), the ONNX parity figures against (b), the cost
of normalisation and of word segmentation, and for ``nlpguard serve`` (transformer and
baseline) p50/p95 latency of single-message requests and messages/s with 8
clients sending single messages at once.

Usage: python benchmarks/inference_backends.py [--messages 20000] [--requests 300] [--output results.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = "zh-bert-small"
WARM_UP = 64


def source_texts(n: int) -> tuple[list[str], str]:
    """``n + WARM_UP`` messages (the first WARM_UP for warming up) and where they come from."""
    from nlpguard.training.corpora import corpora_dir, nus_sms

    root = corpora_dir()
    if root is not None:
        texts, origin = [e.text for e in nus_sms(root)], "real SMS, nus_sms_zh"
    else:
        texts = [json.loads(line)["text"] for split in ("train", "dev", "test")
                 for line in open(ROOT / "data" / "messages" / f"{split}.jsonl", encoding="utf-8")]
        origin = "authored messages, cycled (reference corpora absent)"
    return list(itertools.islice(itertools.cycle(texts), n + WARM_UP)), origin


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(approach: str, model_dir: str, texts_file: str, scores_file: str, repeats: str) -> None:
    """Time one approach in this process (the fastest of ``repeats`` passes); print one JSON line."""
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    warm, texts = texts[:WARM_UP], texts[WARM_UP:]
    started = time.perf_counter()
    if approach == "naive":
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir).float()  # fp16 on disk
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu",
                                     top_k=None, function_to_apply="sigmoid", truncation=True)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        load = time.perf_counter() - started
        for text in warm:
            pipe(text)
        started = time.perf_counter()
        outputs = [pipe(text) for text in texts]
        outputs = [out[0] if out and isinstance(out[0], list) else out for out in outputs]  # [[...]] in some versions
        seconds = time.perf_counter() - started
        scores = np.array([[{o["label"]: o["score"] for o in out}[label] for label in labels] for out in outputs])
    else:
        from nlpguard import Guard

        backend = {"torch": "torch", "onnx": "onnx", "onnx-int8": "onnx-int8", "baseline": "auto"}[approach]
        guard = Guard.load(None if approach == "baseline" else model_dir, backend=backend)
        load = time.perf_counter() - started
        guard.scan(warm, "messages")
        seconds = float("inf")
        for _ in range(int(repeats)):
            started = time.perf_counter()
            records = guard.scan(texts, "messages")
            seconds = min(seconds, time.perf_counter() - started)
        scores = np.array([list(r["scores"].values()) for r in records])
    np.save(scores_file, scores, allow_pickle=False)
    peak = peak_rss_mib()
    print(json.dumps({"approach": approach, "messages": len(texts), "seconds": seconds, "load_seconds": load,
                      "peak_mib": peak}))


def run_worker(approach: str, model_dir: Path, texts_file: Path, tmp: Path, repeats: int) -> dict:
    """Run :func:`worker` in a child process and read its figures and scores."""
    scores_file = tmp / f"{approach}.npy"
    out = subprocess.run([sys.executable, __file__, "--worker", approach, str(model_dir), str(texts_file), str(scores_file),
                          str(repeats)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["scores"] = np.load(scores_file, allow_pickle=False)
    return result


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_figures(model: str | None, texts: list[str], requests: int, clients: int = 8) -> dict:
    """Against a real ``nlpguard serve``: p50/p95 milliseconds of single-message ``POST /scan``
    requests sent one after another, then messages/s when ``clients`` threads send single-message
    requests at once (the server joins waiting requests into one model call)."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "nlpguard", "serve", "--port", str(port)] + (["--model", model] if model else [])
    server = subprocess.Popen(args, stderr=subprocess.DEVNULL)

    def post(client: httpx.Client, i: int, text: str) -> float:
        started = time.perf_counter()
        client.post("/scan", json={"task": "messages", "records": [{"id": str(i), "text": text}]}).raise_for_status()
        return (time.perf_counter() - started) * 1000

    def client_thread(number: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as client:
            share = texts[number::clients][:requests]
            for i, text in enumerate(share):
                post(client, i, text)
        return len(share)

    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(1200):
                if server.poll() is not None:
                    raise SystemExit(f"nlpguard serve exited with status {server.returncode} before answering /health")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("nlpguard serve did not answer /health within 120 s")
            times = [post(client, i, text) for i, text in enumerate(texts[:requests + 20])][20:]  # 20 warm up
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            sent = sum(pool.map(client_thread, range(clients)))
        rate = sent / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait()
    quantiles = statistics.quantiles(times, n=100)
    return {"p50_ms": quantiles[49], "p95_ms": quantiles[94], "concurrent_msg_per_s": rate, "clients": clients}


def preprocessing_cost(texts: list[str]) -> tuple[float, float]:
    """Microseconds per message of normalisation alone and of the baseline's word segmentation (jieba-rs)."""
    from nlpguard.runtime.baseline import segment
    from nlpguard.text.normalize import normalize_text

    sample = texts[:5000]
    started = time.perf_counter()
    normalized = [normalize_text(t) for t in sample]
    normalize_us = (time.perf_counter() - started) / len(sample) * 1e6
    started = time.perf_counter()
    for text in normalized:
        segment(text)
    segment_us = (time.perf_counter() - started) / len(sample) * 1e6
    return normalize_us, segment_us


def main() -> None:
    """Export the model, run every approach, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=300, help="single-message requests per server")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per approach; the fastest counts")
    parser.add_argument("--output", help="also write the figures as JSON here")
    args = parser.parse_args()

    from nlpguard.runtime.modeldir import open_bundle
    from nlpguard.training.onnx_export import export_onnx

    texts, origin = source_texts(args.messages)
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        texts_file = tmp / "texts.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        model_dir = tmp / "model"
        started = time.perf_counter()
        export_onnx(open_bundle(MODEL).directory("messages").path, model_dir, quantize=True)
        print(f"exported {MODEL}/messages to ONNX (fp32 + int8) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for approach in ("naive", "torch", "onnx", "onnx-int8", "baseline"):
            results[approach] = run_worker(approach, model_dir, texts_file, tmp, args.repeats)
            print(f"{approach}: {results[approach]['messages'] / results[approach]['seconds']:.0f} msg/s", file=sys.stderr)
        servers = {name: server_figures(model, texts[WARM_UP:], args.requests)
                   for name, model in (("zh-bert-small (torch)", str(model_dir)), ("baseline", None))}
    normalize_us, segment_us = preprocessing_cost(texts)

    naive_rate = results["naive"]["messages"] / results["naive"]["seconds"]
    print(f"\n{args.messages} messages ({origin}); model {MODEL} for (a)-(c); {os.cpu_count()} CPUs; "
          f"python {sys.version.split()[0]}; fastest of {args.repeats} passes")
    print(f"{'approach':<34}{'msg/s':>9}{'vs (a)':>9}{'load s':>8}{'peak MiB':>10}")
    names = {"naive": "(a) transformers.pipeline, 1 by 1", "torch": "(b) nlpguard torch", "onnx": "(c) nlpguard onnx",
             "onnx-int8": "(c') nlpguard onnx-int8", "baseline": "(d) nlpguard baseline (default)"}
    for approach, r in results.items():
        rate = r["messages"] / r["seconds"]
        print(f"{names[approach]:<34}{rate:>9.0f}{rate / naive_rate:>8.1f}x{r['load_seconds']:>8.1f}{r['peak_mib']:>10.0f}")
    reference = results["torch"]["scores"]
    spec = json.loads((open_bundle(MODEL).directory("messages").path / "config.json").read_text(encoding="utf-8"))["nlpguard"]
    limits = np.array([spec["thresholds"][label] for label in spec["labels"]])
    print("\nparity against (b), every score of every message, and messages whose labels agree:")
    for approach in ("naive", "onnx", "onnx-int8"):
        scores = results[approach]["scores"]
        diff = float(np.abs(scores - reference).max())
        agree = float(((scores >= limits) == (reference >= limits)).all(axis=1).mean())
        note = "  (the naive loop skips nlpguard's normalisation)" if approach == "naive" else ""
        print(f"  {approach:<10} max |score difference| {diff:.2e}, labels agree {agree:.2%}{note}")
    print(f"\npreprocessing per message: normalisation {normalize_us:.0f} µs, word segmentation {segment_us:.0f} µs")
    print("server on loopback, single-message POST /scan: one client, then 8 clients at once:")
    for name, figures in servers.items():
        print(f"  {name:<24} p50 {figures['p50_ms']:.1f} ms  p95 {figures['p95_ms']:.1f} ms  "
              f"{figures['clients']} clients {figures['concurrent_msg_per_s']:.0f} msg/s")
    if args.output:
        figures = {k: {key: v for key, v in r.items() if key != "scores"} for k, r in results.items()}
        Path(args.output).write_text(json.dumps({"results": figures, "server": servers, "origin": origin,
                                                 "normalize_us": normalize_us, "segment_us": segment_us}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()

