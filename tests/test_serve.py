"""``nlpguard serve``: a real server process on loopback, answers equal to an in-process Guard, limits, load."""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="nlpguard serve needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="nlpguard serve needs the serve extra (uvicorn)")
httpx = pytest.importorskip("httpx", reason="the serve tests use httpx as client")

from nlpguard import TASKS, Guard, __version__
from nlpguard.io.inputs import InputRecord
from nlpguard.runtime.modeldir import PACKAGED_MODELS
from nlpguard.apps.serve import create_app

MAX_BODY_BYTES = 20000
MAX_RECORDS = 50
MAX_CHARS = 3000

MESSAGES = [
    "三天内不还钱就爆你通讯录，让你全家都知道你是老赖",
    "周末一起去爬山吗？我带水，你带吃的",
    "明早八点我们的人就到你单位门口等你，不信你试试。",
    "你这个老赖真不要脸，欠钱不还的人渣",
    "【某银行】您本期账单已到期，请于25日前按时还款，如已还款请忽略。",
    "再不还钱，就把你的照片P成通缉令发到你朋友圈和家族群",
    "您好，您的还款已成功，感谢您的支持。",
    "今晚我们就去你老家找你爸妈聊聊，你自己看着办",
    "明天下午三点开会，记得带电脑",
    "逾期第5天了，今天下班前处理不了，我们就联系你紧急联系人和公司同事",
    "欠债还钱天经地义，你这种废物活着有什么用",
    "提醒：您的借款将于明日到期，可在App内一键还款。",
]

CLAUSE_DOCUMENT = ("第一条 您同意本平台将您的通讯录、通话记录提供给合作催收机构。\n"
                   "第二条 本协议一经签署不可撤销，您不得撤回授权。\n"
                   "第三条 本平台有权随时修改本协议，无需另行通知。")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(log_path, *options: str):
    """Base URL of a real ``nlpguard serve`` process (with ``options``) on a free loopback port, until exit."""
    port = free_port()
    log = open(log_path, "w+", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "nlpguard", "serve", "--port", str(port), *options],
                               stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"nlpguard serve exited with {process.returncode}: {log.read()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code in (200, 401):  # 401: it wants a token
                    log.seek(0)
                    assert f"listening on {url}" in log.read()  # the start is announced on stderr
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nlpguard serve did not answer /health within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of a real ``nlpguard serve`` process (embedded default model) with small limits."""
    with serving(tmp_path_factory.mktemp("serve") / "stderr.log", "--max-body-bytes", str(MAX_BODY_BYTES),
                 "--max-records", str(MAX_RECORDS), "--max-chars", str(MAX_CHARS)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def reference(guard, records, task="messages", thresholds=None):
    """What the server must answer: the in-process Guard on the same records."""
    inputs = [InputRecord.from_mapping(r, f"request:{n}") for n, r in enumerate(records, start=1)]
    return guard.scan_records(inputs, task, guard.thresholds(task, thresholds))


def test_health_reports_model_tasks_labels_and_version(client, guard):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": "baseline", "tasks": guard.tasks,
                               "labels": {task: guard.labels(task) for task in guard.tasks}, "version": __version__}


def test_openapi_describes_scan_with_task_enum(client):
    spec = client.get("/openapi.json").json()
    assert "post" in spec["paths"]["/scan"] and "get" in spec["paths"]["/health"]
    request = spec["components"]["schemas"]["ScanRequest"]
    assert request["properties"]["task"]["enum"] == list(TASKS)
    assert set(request["required"]) == {"task", "records"}
    assert {"400", "413", "422", "504"} <= set(spec["paths"]["/scan"]["post"]["responses"])
    assert client.get("/docs").status_code == 200


def test_scan_messages_equals_in_process_guard(client, guard):
    records = [{"id": f"m{i}", "text": text, "sender": "955xx"} for i, text in enumerate(MESSAGES)]
    response = client.post("/scan", json={"task": "messages", "records": records})
    assert response.status_code == 200
    outputs = response.json()["records"]
    assert outputs == reference(guard, records)
    assert "privacy_disclosure" in outputs[0]["labels"] and outputs[0]["evidence"]
    assert outputs[1]["labels"] == [] and outputs[1]["evidence"] == []
    for output, text in zip(outputs, MESSAGES):
        for evidence in output["evidence"]:
            assert text[evidence["start"]:evidence["end"]] == evidence["text"]


def test_scan_clauses_and_threshold_overrides(client, guard):
    records = [{"id": "policy.md", "text": CLAUSE_DOCUMENT}]
    response = client.post("/scan", json={"task": "clauses", "records": records})
    assert response.status_code == 200 and response.json()["records"] == reference(guard, records, "clauses")
    for evidence in response.json()["records"][0]["evidence"]:
        assert CLAUSE_DOCUMENT[evidence["start"]:evidence["end"]] == evidence["text"]

    records = [{"text": text} for text in MESSAGES[:4]]
    response = client.post("/scan", json={"task": "messages", "records": records, "thresholds": {"insult": 0.0}})
    assert response.status_code == 200
    assert response.json()["records"] == reference(guard, records, thresholds={"insult": 0.0})
    assert all("insult" in r["labels"] for r in response.json()["records"])


def test_unusable_records_become_error_records_in_order(client, guard):
    records = [{"id": 7, "text": MESSAGES[0]}, {"text": ""}, {"text": 42}, {"id": "no-text"}, {"text": "  \n "},
               {"text": None}, {"text": MESSAGES[1]}]
    response = client.post("/scan", json={"task": "messages", "records": records})
    assert response.status_code == 200
    outputs = response.json()["records"]
    assert outputs == reference(guard, records)
    assert [o["id"] for o in outputs] == ["7", "request:2", "request:3", "no-text", "request:5", "request:6", "request:7"]
    assert [("error" in o, "labels" in o) for o in outputs] == [(False, True)] + [(True, False)] * 5 + [(False, True)]
    assert outputs[2]["error"] == "'text' is int, not a string" and outputs[3]["error"] == "missing 'text'"


def test_lone_surrogate_in_id_comes_back_escaped(client, guard):
    body = json.dumps({"task": "messages", "records": [{"id": "\ud800", "text": MESSAGES[0]}]})  # ASCII: \ud800 escape
    response = client.post("/scan", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["records"] == reference(guard, [{"id": "\ud800", "text": MESSAGES[0]}])


def test_lone_surrogate_in_text_is_an_error_record(client):
    body = json.dumps({"task": "messages", "records": [{"id": "s", "text": "\ud800" + MESSAGES[0]}]})
    response = client.post("/scan", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and "error" in response.json()["records"][0]


def test_malformed_json_is_400(client):
    response = client.post("/scan", content=b'{"task": "messages", "records": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"].startswith("malformed JSON")


def test_body_not_sent_as_json_is_415(client):
    response = client.post("/scan", content=b'{"task": "messages", "records": []}',
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


@pytest.mark.parametrize("body, words", [
    ({"task": "sms", "records": []}, ["task", "'messages' or 'clauses'"]),
    ({"task": "messages", "records": {"text": "x"}}, ["records", "list"]),
    ({"task": "messages", "records": ["just a string"]}, ["records.0"]),
    ({"task": "messages", "records": [], "thresholds": {"insult": "high"}}, ["thresholds.insult", "number"]),
    ({"task": "messages", "records": [], "thresholds": {"nope": 0.5}}, ["unknown label 'nope'", "insult"]),
    ({"task": "messages", "records": [], "thresholds": {"insult": 1.5}}, ["between 0 and 1", "1.5"]),
    ({"records": []}, ["task", "Field required"]),
])
def test_wrong_request_is_422_with_message(client, body, words):
    response = client.post("/scan", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and all(word in detail for word in words), detail


def test_task_the_model_lacks_is_422():
    messages_only = Guard.load(PACKAGED_MODELS / "baseline" / "messages")  # a single model directory
    app = create_app(messages_only, max_body_bytes=MAX_BODY_BYTES, max_records=MAX_RECORDS, timeout=10, batch_size=64)

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get("/health"), await client.post("/scan", json={"task": "clauses", "records": []})

    health, response = asyncio.run(main())
    assert health.json()["tasks"] == ["messages"] and health.json()["model"].endswith("messages")
    assert response.status_code == 422 and "no 'clauses' model" in response.json()["detail"]


def test_request_limits_are_413(client):
    oversized = {"task": "messages", "records": [{"text": MESSAGES[0] * 20} for _ in range(30)]}
    body = json.dumps(oversized, ensure_ascii=False).encode("utf-8")
    assert len(body) > MAX_BODY_BYTES
    response = client.post("/scan", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]

    def chunked():  # no Content-Length: the server must count what arrives
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    response = client.post("/scan", content=chunked(), headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]

    too_many = {"task": "messages", "records": [{"text": "你好"}] * (MAX_RECORDS + 1)}
    response = client.post("/scan", json=too_many)
    assert response.status_code == 413 and f"limit of {MAX_RECORDS}" in response.json()["detail"]
    response = client.post("/scan", json={"task": "messages", "records": [{"text": "你好"}] * MAX_RECORDS})
    assert response.status_code == 200 and len(response.json()["records"]) == MAX_RECORDS


def test_slow_scan_is_504_while_health_answers(guard, monkeypatch):
    app = create_app(guard, max_body_bytes=MAX_BODY_BYTES, max_records=MAX_RECORDS, timeout=1.0, batch_size=64)
    release = threading.Event()
    scan_records = guard.scan_records

    def slow_scan_records(*args, **kwargs):
        release.wait(10)
        return scan_records(*args, **kwargs)

    monkeypatch.setattr(guard, "scan_records", slow_scan_records)
    body = {"task": "messages", "records": [{"text": MESSAGES[0]}]}

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            scans = [asyncio.create_task(client.post("/scan", json=body)) for _ in range(2)]  # the second queues
            await asyncio.sleep(0.1)
            health = await client.get("/health")
            pending = not any(scan.done() for scan in scans)
            timed_out = await asyncio.gather(*scans)
            release.set()
            after = await client.post("/scan", json=body)
        return health, pending, timed_out, after

    try:
        health, pending, timed_out, after = asyncio.run(main())
    finally:
        release.set()
    assert health.status_code == 200 and pending
    assert [r.status_code for r in timed_out] == [504, 504]
    assert "1 s limit" in timed_out[0].json()["detail"]
    assert after.status_code == 200 and after.json()["records"] == reference(guard, body["records"])


def test_requests_waiting_for_a_scan_share_the_next_model_call(guard, monkeypatch):
    app = create_app(guard, max_body_bytes=MAX_BODY_BYTES, max_records=MAX_RECORDS, timeout=30.0, batch_size=64)
    calls = []
    scan_records = guard.scan_records

    def counted_scan_records(records, task, thresholds, batch_size):
        calls.append(len(records))
        if len(calls) == 1:
            time.sleep(0.3)  # the first scan runs while the other requests arrive
        return scan_records(records, task, thresholds, batch_size)

    monkeypatch.setattr(guard, "scan_records", counted_scan_records)
    bodies = [{"task": "messages", "records": [{"id": f"r{i}", "text": MESSAGES[i % len(MESSAGES)]}],
               **({"thresholds": {"insult": 0.0}} if i % 4 == 3 else {})} for i in range(12)]

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            first = asyncio.create_task(client.post("/scan", json=bodies[0]))
            await asyncio.sleep(0.1)
            return [await first] + list(await asyncio.gather(*(client.post("/scan", json=b) for b in bodies[1:])))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 12
    for body, response in zip(bodies, responses):  # each request gets its own records, under its own thresholds
        expected = scan_records([InputRecord.from_mapping(r, "") for r in body["records"]], "messages",
                                guard.thresholds("messages", body.get("thresholds")))
        assert response.json()["records"] == expected
    assert calls[0] == 1 and sorted(calls[1:]) == [3, 8]  # 11 waiting requests: one call per threshold setting


def test_concurrent_clients_get_exact_answers(server, guard):
    expected = {text: reference(guard, [{"text": text}])[0] for text in MESSAGES}

    def client_thread(number: int) -> list[tuple[int, bool]]:
        rng, results = random.Random(number), []
        with httpx.Client(base_url=server, timeout=60) as client:
            for request in range(25):
                texts = [rng.choice(MESSAGES) for _ in range(rng.randint(1, 20))]
                ids = [f"c{number}-r{request}-{i}" for i in range(len(texts))]
                response = client.post("/scan", json={"task": "messages",
                                                      "records": [{"id": i, "text": t} for i, t in zip(ids, texts)]})
                want = [{**expected[t], "id": i} for i, t in zip(ids, texts)]
                results.append((response.status_code, response.status_code == 200 and response.json()["records"] == want))
        return results

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for thread in pool.map(client_thread, range(8)) for r in thread]
    assert len(results) == 200
    assert all(status == 200 for status, _ in results)
    assert all(same for _, same in results)
    assert time.monotonic() - start < 120


def test_missing_model_exits_2_with_one_line():
    process = subprocess.run([sys.executable, "-m", "nlpguard", "serve", "--model", "no/such/dir",
                              "--port", str(free_port())], check=False, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert process.stderr.startswith("nlpguard: error:") and "no/such/dir" in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1 and "Traceback" not in process.stderr


def test_plain_clients_get_413_not_a_reset_for_an_oversized_body(server):
    import urllib.error
    import urllib.request

    body = json.dumps({"task": "messages", "records": [{"text": "你好" * 4000}]}).encode("utf-8")
    assert MAX_BODY_BYTES < len(body) < 4 * MAX_BODY_BYTES
    request = urllib.request.Request(f"{server}/scan", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:  # a reset would raise URLError/ConnectionResetError
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413 and str(MAX_BODY_BYTES) in json.loads(caught.value.read())["detail"]


def test_long_texts_and_object_ids_are_error_records_before_any_scanning(client):
    records = [{"id": "long", "text": "再不还钱就上门" * 500}, {"id": {"a": 1}, "text": "你好"},
               {"id": "ok", "text": "明早八点我们的人就到你单位门口等你，不信你试试。"}]
    response = client.post("/scan", json={"task": "messages", "records": records})
    assert response.status_code == 200
    out = response.json()["records"]
    assert [set(r) for r in out[:2]] == [{"id", "error"}, {"id", "error"}]
    assert "over the limit of 3,000" in out[0]["error"]
    assert out[1]["id"] == "request:2" and "'id' must be a string or a number" in out[1]["error"]
    assert out[2]["labels"] == ["intimidation"]
