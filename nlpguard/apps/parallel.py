"""Scan batches of input records in worker processes, in input order, with constant memory.

``nlpguard scan`` scores the baseline model (pure Python/CPU work, one core per process)
in several processes when the input holds more than one batch: by default one per CPU this
process may use (``--workers N`` sets it; 1 scans in-process). At most ``2 * N`` batches
are in flight: the reader waits for the oldest batch's result before it reads more, so
memory stays flat on inputs of any length, and results come back in submission order, so
the output order is the input order. Workers end with the scan, or with their parent on
Linux if the parent is killed.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from pathlib import Path
from typing import Iterable, Iterator

from ..runtime.baseline import ARCHITECTURE as BASELINE_ARCHITECTURE
from ..guard import Guard, batched
from ..io.inputs import InputRecord

MAX_AUTO_WORKERS = 8
_PR_SET_PDEATHSIG = 1
_GUARD: Guard | None = None  # the worker process's Guard (inherited on fork, else loaded once)


def default_workers(guard: Guard, task: str) -> int:
    """Worker processes for ``--workers auto``: one per usable CPU (at most 8) for the baseline, else 1."""
    if guard.model(task).spec.architecture != BASELINE_ARCHITECTURE:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, MAX_AUTO_WORKERS))


def _start_worker(model: str | Path | None, backend: str) -> None:
    global _GUARD
    if sys.platform.startswith("linux"):  # die with the parent instead of waiting for work forever
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if _GUARD is None:
        _GUARD = Guard.load(model, backend=backend, threads=1)


def _scan(batch: list[InputRecord], task: str, thresholds: dict[str, float], clauses: bool) -> list[dict]:
    return _GUARD.scan_batch(batch, task, thresholds, clauses)


def scan_batches(guard: Guard, records: Iterable[InputRecord], task: str, thresholds: dict[str, float],
                 batch_size: int, workers: int, model: str | Path | None = None,
                 backend: str = "auto", clauses: bool = False) -> Iterator[tuple[list[InputRecord], list[dict]]]:
    """Yield ``(batch, output records)`` for every ``batch_size`` records, in input order.

    ``thresholds`` are the resolved ones (:meth:`Guard.thresholds`); ``clauses``: documents' records
    list their clauses (for writers that render them). In-process each batch goes to
    :meth:`Guard.scan_batch`, as :meth:`Guard.pipe_batches` does; with ``workers`` > 1 and a second batch to score, ``workers``
    processes score the batches; where the platform can fork they inherit ``guard`` (no second
    load), elsewhere each loads ``model`` once. A worker's exception is raised here, at its batch.
    """
    records = iter(records)
    batches = batched(records, batch_size)
    head = list(islice(batches, 2))  # workers start only when there is a second batch to give them
    if workers <= 1 or len(head) < 2:
        for batch in chain(head, batches):  # thresholds already resolved: score each batch as the workers do
            yield batch, guard.scan_batch(batch, task, thresholds, clauses)
        return
    batches = chain(head, batches)
    global _GUARD
    forking = "fork" in multiprocessing.get_all_start_methods()
    _GUARD = guard if forking else None
    context = multiprocessing.get_context("fork" if forking else "spawn")
    pending: deque[tuple[list[InputRecord], Future]] = deque()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(model, backend)) as pool:
        for batch in batches:
            pending.append((batch, pool.submit(_scan, batch, task, thresholds, clauses)))
            if len(pending) >= 2 * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
