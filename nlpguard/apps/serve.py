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
- ``GET /``: the review page (:mod:`nlpguard.apps.review`): upload or paste messages or an agreement,
  confirm or correct each flag; ``GET /review/info`` (model, versions, labels with grounds,
  limits, whether feedback is stored), ``POST /review/upload?task=…&filename=…`` (the file's
  bytes as the body; answers its records, or a document's clauses, with scores and evidence)
  and ``POST /feedback`` (one correction, stored under ``--data-dir``; 201) serve it.
- With ``token``, every endpoint answers 401 unless the request carries ``Authorization:
  Bearer TOKEN`` (or HTTP Basic with the token as password, which is how a browser logs in to
  the page: its later requests carry the same credentials).

Errors answer ``{"detail": "<message>"}``: 400 malformed JSON; 401 missing or wrong token; 409 a
correction of flags from a model version other than the one served; 413 body over
``max_body_bytes`` or more than ``max_records`` records; 415 body not sent as
``application/json``; 422 wrong types, a task the model does not have, an unknown label or a
threshold outside 0..1; 503 feedback sent to a server without ``--data-dir``; 504 a scan that
takes longer than ``timeout`` seconds (waiting for earlier scans included).

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
import base64
import binascii
import hmac
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import PurePosixPath
from typing import Any, Literal

from .. import __version__
from ..errors import NlpguardError
from .feedback import Correction, FeedbackStore
from ..guard import Guard
from ..io.inputs import MAX_RECORD_CHARS, InputRecord, check_encoding, over_limit, read_bytes, text_problem
from ..runtime.modeldir import PACKAGED_MODELS, model_version
from .review import review_page
from ..taxonomy import LABELS, task_info

try:
    import uvicorn
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
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


class ReviewBatch(BaseModel):
    """Body of a successful ``POST /review/upload``: the upload's records, scanned, for the review page.

    Messages: interface records with their ``text``. Clauses: one record per document, with
    ``clauses`` (every clause: ``start``, ``end``, ``text``, ``heading``, ``scores``, ``labels``).
    """

    task: str
    filename: str
    model: str
    model_version: str
    records: list[dict[str, Any]]


class FeedbackRequest(BaseModel):
    """Body of ``POST /feedback``: one reviewer's verdict on one record or clause."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["messages", "clauses"]
    id: StrictStr = Field(min_length=1, max_length=1000, description="The record's id (a clause: DOCUMENT:START-END).")
    text: StrictStr = Field(min_length=1, description="The message, or the clause's text.")
    document: StrictStr | None = Field(None, min_length=1, max_length=1000, description="Clauses: the document's name.")
    start: StrictInt | None = Field(None, ge=0, description="Clauses: the clause's first character in the document.")
    end: StrictInt | None = Field(None, ge=1, description="Clauses: the character after the clause.")
    labels_before: list[StrictStr] = Field(description="The labels the model gave.")
    labels_after: list[StrictStr] = Field(description="The labels the reviewer says are right ([] for compliant).")
    comment: StrictStr = Field("", max_length=4000)
    reviewer: StrictStr = Field(min_length=1, max_length=200)
    model_version: StrictStr | None = Field(None, description="The version the page's flags came from (409 if not served).")


class FeedbackStored(BaseModel):
    """Body of a successful ``POST /feedback`` (201)."""

    id: int
    created_at: str


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


class _TokenAuth:
    """ASGI middleware: 401 for every HTTP request without ``Authorization: Bearer TOKEN`` (or Basic
    with TOKEN as the password, any user name), compared in constant time. The page (``/``)
    challenges with Basic, so a browser asks for the token; API paths challenge with Bearer."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.token = token.encode("utf-8")

    def _authorised(self, header: bytes) -> bool:
        scheme, _, value = header.partition(b" ")
        if scheme.lower() == b"bearer":
            return hmac.compare_digest(value.strip(), self.token)
        if scheme.lower() == b"basic":
            try:
                password = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(password, self.token)
        return False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._authorised(dict(scope["headers"]).get(b"authorization", b"")):
            await self.app(scope, receive, send)
            return
        challenge = 'Basic realm="nlpguard", charset="UTF-8"' if scope["path"] == "/" else 'Bearer realm="nlpguard"'
        response = _error(401, "missing or wrong token: send 'Authorization: Bearer TOKEN' (the token nlpguard serve "
                               "was started with)")
        response.headers["WWW-Authenticate"] = challenge
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


def _documented(*statuses: tuple[int, str]) -> dict:
    """OpenAPI ``responses`` for error statuses, each answering :class:`ErrorDetail`."""
    return {status: {"model": ErrorDetail, "description": text} for status, text in statuses}


def _label_info(guard: Guard, task: str) -> list[dict]:
    """The ``task`` model's labels for the review page: id, family, severity, definition, grounds, threshold."""
    spec = guard.model(task).spec
    info = []
    for label in spec.labels:
        known = LABELS.get(label)
        info.append({"id": label, "family": known.family if known else label, "severity": known.severity if known else "",
                     "definition": spec.label_descriptions.get(label) or (known.definition if known else ""),
                     "grounds": known.grounds if known else "", "threshold": spec.thresholds[label]})
    return info


def _scan_documents(guard: Guard, records: list[InputRecord]) -> list[dict]:
    """Each agreement record scanned with its clauses (:meth:`Guard.scan_document`), or its error record."""
    return [{"id": r.id, "error": r.error} if r.error is not None else {"id": r.id, **guard.scan_document(r.text)}
            for r in records]


def _correction(body: FeedbackRequest, labels: list[str], max_chars: int) -> str | None:
    """What is wrong with a correction for a model with ``labels``, or None when it can be stored."""
    for field in ("labels_before", "labels_after"):
        values = getattr(body, field)
        unknown = [label for label in values if label not in labels]
        if unknown:
            return f"{field}: unknown label {unknown[0]!r} for task {body.task!r}; labels: {', '.join(labels)}"
        if len(set(values)) != len(values):
            return f"{field}: a label is repeated in {values}"
    problem = text_problem(body.text)
    if problem:
        return f"text: {problem}"
    if len(body.text) > max_chars:
        return f"text: {len(body.text):,} characters, over the limit of {max_chars:,}"
    if not body.reviewer.strip():
        return "reviewer: empty; say who reviewed"
    span = (body.document, body.start, body.end)
    documents = task_info(body.task).documents
    if not documents and span != (None, None, None):
        return "document, start and end are for clauses only"
    if documents:
        if None in span:
            return "document, start and end: a clause needs its document and its span in it"
        if body.end - body.start != len(body.text):
            return f"start and end ({body.start}-{body.end}) do not span the clause's {len(body.text)} characters"
    return None


def create_app(guard: Guard, *, max_body_bytes: int, max_records: int, timeout: float, batch_size: int,
               max_chars: int = MAX_RECORD_CHARS, store: FeedbackStore | None = None, token: str | None = None) -> FastAPI:
    """The FastAPI application serving ``guard`` (see the module docstring for endpoints and limits).

    Loads and warms up the model of every task of ``guard`` now, so that the first request is
    not slow and an unusable model fails here (ModelError) rather than on a request.
    ``store`` keeps the review page's corrections (None: ``POST /feedback`` answers 503);
    ``token``, when given, is required on every endpoint.
    """
    labels = {task: guard.labels(task) for task in guard.tasks}
    for task in guard.tasks:
        guard.scan(_WARM_UP[task], task)
    model = _model_name(guard)
    versions = {task: model_version(guard.model(task).path) for task in guard.tasks}
    health = {"status": "ok", "model": model, "tasks": guard.tasks, "labels": labels, "version": __version__}
    info = {"model": model, "version": __version__, "tasks": guard.tasks, "feedback": store is not None,
            "models": {task: {"version": versions[task], "labels": _label_info(guard, task)} for task in guard.tasks},
            "limits": {"max_body_bytes": max_body_bytes, "max_records": max_records, "max_chars": max_chars}}
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
    if token:
        app.add_middleware(_TokenAuth, token=token)  # outermost: nothing is read before the token is checked
    app.add_exception_handler(RequestValidationError, _invalid_request)

    @app.get("/health", response_model=Health)
    async def get_health() -> dict:
        """The model served, its tasks and labels, and the nlpguard version."""
        return health

    errors = _documented((400, "malformed JSON"), (413, "body or record count over the limit"),
                         (415, "body not sent as JSON"), (422, "wrong types, unknown task or label, threshold outside 0..1"),
                         (504, "scan exceeded the timeout"))

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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """The review page: one self-contained HTML file, no external assets."""
        html, headers = review_page()
        return HTMLResponse(html, headers=headers)

    @app.get("/review/info")
    async def review_info() -> dict:
        """What the review page needs: model, versions, labels with grounds, limits, whether feedback is stored."""
        return info

    upload_errors = _documented((413, "body or record count over the limit"),
                                (422, "unknown task, unsupported file type or encoding, empty file, CSV without 'text'"),
                                (504, "scan exceeded the timeout"))

    @app.post("/review/upload", response_model=ReviewBatch, responses=upload_errors)
    async def review_upload(request: Request, task: Literal["messages", "clauses"],
                            filename: str = Query(min_length=1, max_length=255,
                                                  description="The file's name; its suffix says how to read it."),
                            encoding: str = Query("utf-8", description="Encoding of .jsonl/.csv/.txt lines.")) -> _JSONResponse:
        """Scan an uploaded file (its bytes as the body): messages as .jsonl/.csv/.txt, an agreement as
        .txt/.md/.html/.pdf/.docx (or .jsonl/.csv of documents). Up to ``max_records`` records."""
        if task not in labels:
            raise HTTPException(422, f"the model served has no {task!r} model (it has: {', '.join(labels)})")
        name = PurePosixPath(filename.replace("\\", "/")).name or "upload"
        data = await request.body()
        if not data.strip():
            raise HTTPException(422, f"{name} is empty")

        def read() -> list[InputRecord]:
            return list(islice(read_bytes(data, name, task, check_encoding(encoding), max_chars), max_records + 1))

        try:
            records = await run_in_threadpool(read)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if len(records) > max_records:
            raise HTTPException(413, f"{name} holds more than {max_records} records, the limit per upload: split it")
        if not records:
            raise HTTPException(422, f"{name} holds no records")
        documents = task_info(task).documents
        if not documents:
            scanning = batcher.scan(records, task, guard.thresholds(task))
        else:
            scanning = asyncio.get_running_loop().run_in_executor(scanner, partial(_scan_documents, guard, records))
        try:
            outputs = await asyncio.wait_for(scanning, timeout)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"scanning {name} took longer than the {timeout:g} s limit (earlier requests "
                                     "included); upload a smaller file") from None
        if not documents:
            outputs = [output if "error" in output else {**output, "text": record.text}
                       for record, output in zip(records, outputs)]
        return _JSONResponse({"task": task, "filename": name, "model": model, "model_version": versions[task],
                              "records": outputs})

    feedback_errors = _documented((400, "malformed JSON"), (409, "the flags came from another model version"),
                                  (415, "body not sent as JSON"),
                                  (422, "missing fields, unknown task or label, a span that does not fit"),
                                  (503, "feedback is disabled: the server was started without --data-dir"))

    @app.post("/feedback", status_code=201, response_model=FeedbackStored, responses=feedback_errors)
    async def feedback(body: FeedbackRequest) -> dict:
        """Store one reviewer's verdict: the labels before and after review, with the record and the model."""
        if store is None:
            raise HTTPException(503, "feedback is disabled: start nlpguard serve with --data-dir DIR to store corrections")
        if body.task not in labels:
            raise HTTPException(422, f"the model served has no {body.task!r} model (it has: {', '.join(labels)})")
        problem = _correction(body, labels[body.task], max_chars)
        if problem:
            raise HTTPException(422, problem)
        if body.model_version is not None and body.model_version != versions[body.task]:
            raise HTTPException(409, f"these flags came from model version {body.model_version}, but the server now "
                                     f"runs {versions[body.task]}: upload the file again and review the new flags")
        correction = Correction(body.task, body.id, body.text, model, versions[body.task], body.labels_before,
                                body.labels_after, body.reviewer.strip(), body.comment, body.document, body.start,
                                body.end)
        row, created_at = await run_in_threadpool(store.add, correction)
        return {"id": row, "created_at": created_at}

    return app


def _is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it is reachable from elsewhere
        return False


def run(model: str | None, host: str, port: int, max_body_bytes: int, max_records: int, timeout: float,
        batch_size: int, backend: str = "auto", threads: int | None = None, max_chars: int = MAX_RECORD_CHARS,
        data_dir: str | None = None, token: str | None = None) -> int:
    """Load ``model`` once (ModelError when unusable, before listening), then serve until interrupted; return 0.

    ``backend`` and ``threads`` are :meth:`Guard.load`'s; corrections go to ``data_dir`` (see
    :class:`~nlpguard.apps.feedback.FeedbackStore`); ``token`` is required on every endpoint. Serving
    beyond loopback without a token is allowed but warned about on stderr.
    """
    guard = Guard.load(model, backend=backend, threads=threads)
    store = FeedbackStore(data_dir) if data_dir else None
    app = create_app(guard, max_body_bytes=max_body_bytes, max_records=max_records, timeout=timeout,
                     batch_size=batch_size, max_chars=max_chars, store=store, token=token)
    print(f"nlpguard serve: model {_model_name(guard)} (tasks: {', '.join(guard.tasks)}) listening on "
          f"http://{host}:{port} — POST /scan, GET /health, docs at /docs, review page at / ("
          + (f"corrections stored in {store.path}" if store else "feedback disabled: no --data-dir") + ")"
          + (", token required" if token else ""), file=sys.stderr, flush=True)
    if not token and not _is_loopback(host):
        print(f"nlpguard serve: WARNING: {host} is reachable from other machines and no --token is set: anyone who "
              "can reach this port can scan text" + (" and write corrections that become training data" if store else "")
              + ". Set --token (or NLPGUARD_TOKEN), and put the server behind TLS.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
