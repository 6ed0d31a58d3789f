"""HTTP JSON API of ``nlpguard serve``: the model is loaded once, requests scan batches of records.

Endpoints:

- ``GET /health``: ``{"status": "ok", "model", "tasks", "labels": {task: [...]}, "version"}``.
- ``POST /scan``: body ``{"task": "messages"|"clauses", "records": [{"id", "text"}, ...],
  "thresholds": {label: value}}`` (``id`` and ``thresholds`` optional, other record fields
  ignored); answers ``{"records": [...]}``, one interface record per input record, in order
  (see ``shared/interface.md``). A record without ``id`` gets ``request:N`` (its 1-based
  position); a record whose ``text`` is missing, empty or not a string gets
  ``{"id", "error"}`` instead of failing the request.
- ``GET /docs`` and ``GET /openapi.json``: the schema.

Errors answer ``{"detail": "<message>"}``: 400 malformed JSON; 413 body over ``max_body_bytes``
or more than ``max_records`` records; 415 body not sent as ``application/json``; 422 wrong
types, a task the model does not have, an unknown threshold label or a value outside 0..1;
504 a scan that takes longer than ``timeout`` seconds (waiting for earlier scans included).

Scans run one at a time in a worker thread, so concurrent requests queue instead of
oversubscribing the CPU while ``/health`` stays responsive; requests that queue while a scan
runs are joined into the next model call (same task and thresholds), so many clients sending
a message each are scored in batches. Example::

    nlpguard serve --port 8000 &
    curl -s localhost:8000/scan -H 'Content-Type: application/json' \\
         -d '{"task": "messages", "records": [{"id": "m1", "text": "三天内不还钱就爆你通讯录"}]}'
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from . import __version__
from .errors import NlpguardError
from .guard import Guard
from .inputs import MAX_RECORD_CHARS, InputRecord, over_limit
from .modeldir import PACKAGED_MODELS

try:
    import uvicorn
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, StrictFloat
except ImportError as exc:
    raise NlpguardError(f"nlpguard serve needs FastAPI and uvicorn: pip install 'nlpguard[serve]' ({exc})") from exc

# Short texts whose scan initialises the tokeniser and the scorers before the first request.
_WARM_UP = {"messages": "三天内不还钱就爆你通讯录", "clauses": "第一条 您同意我们向第三方共享您的通讯录。"}


class ScanRequest(BaseModel):
    """Body of ``POST /scan``."""

    task: Literal["messages", "clauses"]
    records: list[dict[str, Any]] = Field(
        description="Objects with 'text' and optional 'id' (string or number); other fields are ignored.",
        examples=[[{"id": "m1", "text": "三天内不还钱就爆你通讯录，让你全家都知道你是老赖"}]])
    thresholds: dict[str, StrictFloat] = Field(default_factory=dict,
                                               description="Per-label overrides of the model's thresholds, each 0..1.")


class Evidence(BaseModel):
    """A flagged sentence or clause; ``start``/``end`` are offsets into the record's text."""

    model_config = ConfigDict(extra="allow")
    label: str
    text: str
    start: int
    end: int
    score: float


class OutputRecord(BaseModel):
    """One interface record: ``labels``, ``scores``, ``families`` and ``evidence``, or ``error`` alone."""

    model_config = ConfigDict(extra="allow")
    id: str
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    families: list[str] | None = None
    evidence: list[Evidence] | None = None
    error: str | None = None


class ScanResponse(BaseModel):
    """Body of a successful ``POST /scan``: one record per input record, in order."""

    records: list[OutputRecord]


class Health(BaseModel):
    """Body of ``GET /health``."""

    status: Literal["ok"]
    model: str
    tasks: list[str]
    labels: dict[str, list[str]]
    version: str


class ErrorDetail(BaseModel):
    """Body of every error response."""

    detail: str


class _JSONResponse(JSONResponse):
    """UTF-8 JSON that writes lone surrogates (sent as JSON ``\\udXXX`` escapes) back as the same escapes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")


def _error(status: int, detail: str) -> _JSONResponse:
    return _JSONResponse({"detail": detail}, status_code=status)


_DRAIN_FACTOR = 4  # an oversized body is read and discarded up to this many times the limit before the 413


class _BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, announced by Content-Length or counted as it arrives.

    The body is read (at most ``max_bytes``) before the application runs, then handed to it whole.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, more)
                return
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> dict:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict, receive: Any, send: Any, more: bool = True) -> None:
        """Read and discard the rest of the body (up to a bound) so the client sees the 413, then answer."""
        drained = 0
        while more and drained < _DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        response = _error(413, f"request body is larger than the limit of {self.max_bytes} bytes; "
                                "send fewer records per request")
        await response(scope, receive, send)


async def _invalid_request(request: Request, exc: RequestValidationError) -> _JSONResponse:
    """400 for malformed JSON, 415 for a body that is not JSON, else 422 naming each field at fault."""
    errors = exc.errors()
    if errors[0]["type"] == "json_invalid":
        return _error(400, f"malformed JSON: {errors[0]['ctx']['error']} at character {errors[0]['loc'][-1]}")
    if isinstance(exc.body, bytes):
        return _error(415, "the body must be JSON sent with 'Content-Type: application/json'")
    return _error(422, "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in errors))


def _model_name(guard: Guard) -> str:
    """The packaged model's name (``baseline``) or the model's path, as ``/health`` reports it."""
    path = guard.path
    return path.name if path.parent == PACKAGED_MODELS else str(path)


@dataclass
class _Request:
    records: list[InputRecord]
    task: str
    thresholds: dict[str, float]
    answer: asyncio.Future


class _Batcher:
    """Joins requests that arrive while a scan runs into the next model call, one call at a time.

    Each call takes every waiting request (up to ``batch_size`` records, more when one request
    alone is larger) with the same task and thresholds; requests whose client already got a 504
    are dropped before they run. An idle server scans a lone request at once, so batching adds
    no latency; a busy one scores many small requests per call, as a batch scan does.
    """

    def __init__(self, guard: Guard, batch_size: int, scanner: ThreadPoolExecutor):
        self.guard = guard
        self.batch_size = batch_size
        self.scanner = scanner
        self.queue: asyncio.Queue[_Request] | None = None
        self.worker: asyncio.Task | None = None

    async def scan(self, records: list[InputRecord], task: str, thresholds: dict[str, float]) -> list[dict]:
        """The output records of ``records``, scanned in the next model call that can take them."""
        if self.worker is None:  # started in the serving event loop, on the first request
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self._run())
        request = _Request(records, task, thresholds, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(request)
        return await request.answer

    def close(self) -> None:
        """Stop taking requests (at server shutdown)."""
        if self.worker is not None:
            self.worker.cancel()

    async def _run(self) -> None:
        while True:
            waiting = [await self.queue.get()]
            size = len(waiting[0].records)
            while size < self.batch_size and not self.queue.empty():
                waiting.append(self.queue.get_nowait())
                size += len(waiting[-1].records)
            groups: dict[tuple, list[_Request]] = {}
            for request in waiting:
                if not request.answer.done():  # its client timed out while it waited
                    groups.setdefault((request.task, tuple(sorted(request.thresholds.items()))), []).append(request)
            for requests in groups.values():
                await self._scan_group(requests)

    async def _scan_group(self, requests: list[_Request]) -> None:
        records = [record for request in requests for record in request.records]
        work = partial(self.guard.scan_records, records, requests[0].task, requests[0].thresholds, self.batch_size)
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.scanner, work)
        except Exception as exc:  # noqa: BLE001 - handed to the requests, which answer 500
            for request in requests:
                if not request.answer.done():
                    request.answer.set_exception(exc)
            return
        first = 0
        for request in requests:
            if not request.answer.done():
                request.answer.set_result(outputs[first:first + len(request.records)])
            first += len(request.records)


def create_app(guard: Guard, *, max_body_bytes: int, max_records: int, timeout: float, batch_size: int,
               max_chars: int = MAX_RECORD_CHARS) -> FastAPI:
    """The FastAPI application serving ``guard`` (see the module docstring for endpoints and limits).

    Loads and warms up the model of every task of ``guard`` now, so that the first request is
    not slow and an unusable model fails here (ModelError) rather than on a request.
    """
    labels = {task: guard.labels(task) for task in guard.tasks}
    for task in guard.tasks:
        guard.scan(_WARM_UP[task], task)
    health = {"status": "ok", "model": _model_name(guard), "tasks": guard.tasks, "labels": labels, "version": __version__}
    scanner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlpguard-scan")
    batcher = _Batcher(guard, batch_size, scanner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()
        scanner.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="nlpguard", version=__version__, lifespan=lifespan, default_response_class=_JSONResponse,
                  description="Flags abusive Chinese debt-collection messages and consent clauses. "
                              "POST a batch of records to /scan; one interface record comes back per record, in order.")
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_request)

    @app.get("/health", response_model=Health)
    async def get_health() -> dict:
        """The model served, its tasks and labels, and the nlpguard version."""
        return health

    errors = {status: {"model": ErrorDetail, "description": text} for status, text in [
        (400, "malformed JSON"), (413, "body or record count over the limit"), (415, "body not sent as JSON"),
        (422, "wrong types, unknown task or label, threshold outside 0..1"), (504, "scan exceeded the timeout")]}

    @app.post("/scan", response_model=ScanResponse, responses=errors)
    async def scan(request: ScanRequest) -> _JSONResponse:
        """Scan a batch of records: one interface record per input record, in order."""
        if request.task not in labels:
            raise HTTPException(422, f"the model served has no {request.task!r} model (it has: {', '.join(labels)})")
        if len(request.records) > max_records:
            raise HTTPException(413, f"{len(request.records)} records exceed the limit of {max_records} per request")
        try:
            thresholds = guard.thresholds(request.task, request.thresholds)
        except ValueError as exc:
            raise HTTPException(422, f"thresholds: {exc}") from None
        records = [over_limit(InputRecord.from_mapping(record, f"request:{n}"), max_chars)
                   for n, record in enumerate(request.records, start=1)]  # long texts never reach the queue
        try:
            outputs = await asyncio.wait_for(batcher.scan(records, request.task, thresholds), timeout)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"scanning {len(records)} record(s) took longer than the {timeout:g} s limit "
                                     "(earlier requests included); send fewer records per request") from None
        return _JSONResponse({"records": outputs})

    return app


def run(model: str | None, host: str, port: int, max_body_bytes: int, max_records: int, timeout: float,
        batch_size: int, backend: str = "auto", threads: int | None = None, max_chars: int = MAX_RECORD_CHARS) -> int:
    """Load ``model`` once (ModelError when unusable, before listening), then serve until interrupted; return 0.

    ``backend`` and ``threads`` are :meth:`Guard.load`'s.
    """
    guard = Guard.load(model, backend=backend, threads=threads)
    app = create_app(guard, max_body_bytes=max_body_bytes, max_records=max_records,
                     timeout=timeout, batch_size=batch_size, max_chars=max_chars)
    print(f"nlpguard serve: model {_model_name(guard)} (tasks: {', '.join(guard.tasks)}) listening on "
          f"http://{host}:{port} — POST /scan, GET /health, docs at /docs", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
