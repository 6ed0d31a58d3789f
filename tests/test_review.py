"""The review page: a real server driven in headless Chromium, corrections exported and trained on, safety."""
from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="nlpguard serve needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="nlpguard serve needs the serve extra (uvicorn)")
httpx = pytest.importorskip("httpx", reason="the serve tests use httpx as client")

from fastapi.testclient import TestClient

from nlpguard import Guard
from nlpguard.apps.cli import main
from nlpguard.training.data import Example, apply_reviews, validate_file
from nlpguard.errors import DataError
from nlpguard.apps.feedback import FeedbackStore
from nlpguard.apps.serve import create_app

from .conftest import REPO, write_jsonl
from .test_reports import CHROMIUM
from .test_serve import serving

POLICY = REPO / "data" / "examples" / "loan_app_policy.txt"
TOKEN = "review-token-0123456789abcdef"
MAX_RECORDS = 20
MAX_BODY_BYTES = 60_000
SECOND = "第二条 您注册或使用本应用即视为同意本政策全部条款。"    # flagged bundled_consent by the default model
FIRST = "第一条 为向您提供借款服务，我们将收集您的姓名、身份证号码与银行卡号，用于身份核验和放款。"  # flagged nothing
THIRD = "第三条 为评估您的信用，您授权我们读取您的通讯录、通话记录、短信及设备上安装的应用列表。"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``nlpguard serve`` (embedded default model) storing corrections in its data folder, small limits."""
    root = tmp_path_factory.mktemp("review")
    with serving(root / "stderr.log", "--data-dir", str(root / "data"), "--max-records", str(MAX_RECORDS),
                 "--max-body-bytes", str(MAX_BODY_BYTES), "--max-chars", "3000") as url:
        yield url, root / "data"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's, never a download) driven by Playwright."""
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (the test extra)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page; fails the test on any script error or dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    context.close()
    assert not problems, problems


def item(page, text: str):
    """The review item whose text contains ``text``."""
    return page.locator(".item", has=page.locator(".text", has_text=text))


def test_root_answers_the_self_contained_review_page(server):
    url, _ = server
    response = httpx.get(url + "/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<form id="upload-form">' in html and 'type="file"' in html
    assert "<script src" not in html and "<link rel=\"stylesheet\"" not in html and "innerHTML" not in html
    assert "http://" not in html and "https://" not in html and "@import" not in html
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "connect-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.slow
def test_review_a_policy_export_the_corrections_and_retrain(server, page, tmp_path, capsys):
    url, data_dir = server
    page.goto(url + "/")
    page.fill("#reviewer", "alice")
    page.select_option("#task", "clauses")
    page.set_input_files("#file", str(POLICY))
    page.click("#upload")
    page.wait_for_selector(".item")
    assert "loan_app_policy.txt: 11 clauses, 8 flagged by the model" in page.text_content("#counts")
    second, first, third = item(page, "第二条"), item(page, "第一条"), item(page, "第三条")
    assert second.locator("mark").text_content() == SECOND                   # the flagged clause, highlighted
    assert "个人信息保护法 14, 16" in second.locator(".grounds").text_content()  # with its grounds
    assert first.locator("mark").count() == 0

    second.locator(".text").click()
    page.keyboard.press("w")                                   # the flag is wrong
    assert "wrong" in second.locator(".chip[data-label=bundled_consent]").get_attribute("class")
    page.keyboard.press("s")
    first.locator(".text").click()
    page.keyboard.press("2")                                   # the model missed excessive_collection
    page.keyboard.press("/")
    page.keyboard.type("银行卡号以外<b>没问题</b>")
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    third.locator(".text").click()
    page.keyboard.press("c")                                   # this one the model got right
    for done, verdict in ((second, "corrected"), (first, "corrected"), (third, "confirmed")):
        done.locator(".state.saved").wait_for()
        assert done.locator(".state").text_content() == f"saved: {verdict}"
    assert "3 saved (2 corrected)" in page.text_content("#counts")

    export = tmp_path / "review.jsonl"
    assert main(["feedback", "export", "--data-dir", str(data_dir), "--output", str(export), "--task", "clauses"]) == 0
    lines = {r["text"]: r for r in map(json.loads, export.read_text(encoding="utf-8").splitlines())
             if r["reviewer"] == "alice"}
    assert set(lines) == {SECOND, FIRST, THIRD}
    assert lines[SECOND]["labels"] == [] and lines[SECOND]["labels_before"] == ["bundled_consent"]
    assert lines[FIRST]["labels"] == ["excessive_collection"] and lines[FIRST]["labels_before"] == []
    assert lines[FIRST]["comment"] == "银行卡号以外<b>没问题</b>"
    # confirmed: the model's own labels kept as the reviewed ones (excessive collection among them)
    assert lines[THIRD]["labels"] == lines[THIRD]["labels_before"] and "excessive_collection" in lines[THIRD]["labels"]
    text = POLICY.read_text(encoding="utf-8")
    for line in lines.values():
        assert line["source"] == "review" and line["model"] == "baseline" and line["model_version"].startswith("sha256:")
        assert line["document"] == "loan_app_policy.txt" and text[line["start"]:line["end"]] == line["text"]
        assert line["reviewed_at"].endswith("Z") and line["record"] == f"loan_app_policy.txt:{line['start']}-{line['end']}"
    assert validate_file(export) == []

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [{"id": f"c{i}", "text": t, "labels": l} for i, (t, l) in enumerate(CLAUSES)]
    for split in ("train", "dev", "test"):
        write_jsonl(corpus / f"{split}.jsonl", rows)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"task": "clauses", "min_df": 1, "c": 20.0, "real_clause_labels": None}), encoding="utf-8")
    before, after = tmp_path / "before", tmp_path / "after"
    assert main(["train", "--config", str(config), "--data", str(corpus), "--output", str(before)]) == 0
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--data", str(corpus), str(export), "--output", str(after)]) == 0
    log = capsys.readouterr().err
    assert "reviewed labels overrode 6 corpus record(s)" in log        # SECOND and FIRST, in each split of the corpus
    assert "1 reviewed text(s) added to train" in log                  # THIRD, which the corpus lacks
    old, new = Guard.load(before), Guard.load(after)
    assert "bundled_consent" in old.scan(SECOND, task="clauses")["labels"]
    assert "bundled_consent" not in new.scan(SECOND, task="clauses")["labels"]
    assert "excessive_collection" not in old.scan(FIRST, task="clauses")["labels"]
    assert "excessive_collection" in new.scan(FIRST, task="clauses")["labels"]


# A small clause corpus that labels SECOND bundled consent and FIRST compliant (the reviewer will say otherwise).
CLAUSES = [
    (SECOND, ["bundled_consent"]),
    (FIRST, []),
    ("您一旦下载本软件，即表示您已同意本协议的全部内容。", ["bundled_consent"]),
    ("勾选框已默认选中，视为您同意接收营销信息。", ["bundled_consent"]),
    ("您需授权我们读取通讯录、通话记录和短信内容。", ["excessive_collection"]),
    ("我们将收集您的精确位置、相册及设备上安装的全部应用列表。", ["excessive_collection"]),
    ("逾期后我们有权联系您的通讯录好友及单位同事催收。", ["contact_disclosure"]),
    ("我们可将您的欠款信息告知您的家人和紧急联系人。", ["contact_disclosure"]),
    ("本授权一经作出不可撤销。", ["irrevocable_consent"]),
    ("注销账户后我们仍将永久保存您的全部信息。", ["irrevocable_consent"]),
    ("本公司有权随时修改本协议且无需通知您。", ["unilateral_terms"]),
    ("本协议最终解释权归本公司所有。", ["unilateral_terms"]),
    ("因任何原因导致的损失本公司概不负责。", ["liability_waiver"]),
    ("争议由本公司所在地法院管辖。", ["liability_waiver"]),
    ("如您对本政策有疑问，请联系客服。", []),
    ("我们会采取加密措施保护您的个人信息安全。", []),
    ("您可以随时在设置中撤回授权。", []),
    ("本政策自发布之日起生效。", []),
]

PAYLOADS = [
    {"id": '<img src=x onerror="window.__xss=1">', "text": "三天内不还钱就爆你通讯录<script>window.__xss=2;document.title='pwned'</script>"},
    {"id": "m2", "text": "<img src=x onerror=\"document.title='pwned'\">明早八点我们的人就到你单位门口等你，不信你试试。"},
    {"id": "m3", "text": '<svg onload="window.__xss=3"></svg><iframe src="javascript:window.__xss=4"></iframe>你好'},
]


def test_script_and_event_handler_payloads_render_as_text(server, page):
    url, _ = server
    page.goto(url + "/")
    page.select_option("#task", "messages")
    page.fill("#paste", "\n".join(json.dumps(p, ensure_ascii=False) for p in PAYLOADS))
    page.click("#scan-paste")
    page.wait_for_selector(".item")
    shown = page.text_content("#items")
    for payload in PAYLOADS:
        assert payload["id"] in shown and payload["text"] in shown
    assert page.locator("#items mark").count() >= 2                  # evidence highlighted, payloads inside it
    assert "<script>window.__xss=2" in page.locator("#items mark").all_text_contents()[0]

    page.select_option("#task", "clauses")
    page.set_input_files("#file", {"name": '<img src=x onerror="window.__xss=5">.txt', "mimeType": "text/plain",
                                   "buffer": "第一条 您注册即视为同意本政策<script>window.__xss=6</script>全部条款。\n".encode()})
    page.click("#upload")
    page.wait_for_selector("section.doc")
    assert '<img src=x onerror="window.__xss=5">.txt' in page.text_content("section.doc h2")
    assert "<script>window.__xss=6</script>" in page.text_content("#items")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None and page.title() == "nlpguard review"
    assert page.locator("#items img, #items script, #items svg, #items iframe").count() == 0


def feedback(number: int, reviewer: str, labels: list[str]) -> dict:
    """A correction of message ``number``."""
    return {"task": "messages", "id": f"p{number}", "text": f"第{number}条消息：再不还钱就上门", "labels_before": [],
            "labels_after": labels, "reviewer": reviewer}


def test_parallel_reviewers_lose_no_correction(server, tmp_path):
    url, data_dir = server

    def reviewer(number: int) -> list[int]:
        with httpx.Client(base_url=url, timeout=60) as client:
            return [client.post("/feedback", json=feedback(number * 25 + i, f"r{number}", ["intimidation"])).status_code
                    for i in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for thread in pool.map(reviewer, range(8)) for s in thread]
    assert statuses == [201] * 200
    assert httpx.post(url + "/feedback", json=feedback(0, "r0", [])).status_code == 201   # r0 changes their mind
    assert httpx.post(url + "/feedback", json=feedback(0, "r1", ["insult"])).status_code == 201  # another reviewer
    export = tmp_path / "messages.jsonl"
    assert main(["feedback", "export", "--data-dir", str(data_dir), "--output", str(export), "--task", "messages"]) == 0
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 201 and len({line["id"] for line in lines}) == 201
    assert {(l["record"], l["reviewer"]) for l in lines} == {(f"p{n}", f"r{n // 25}") for n in range(200)} | {("p0", "r1")}
    assert [l["labels"] for l in lines if l["record"] == "p0"] == [[], ["insult"]]   # the latest of each reviewer
    assert FeedbackStore(data_dir).count() >= 202                                  # every row kept
    assert validate_file(export) == []                                             # one text, two reviewers: allowed
    clause = {"task": "clauses", "id": "policy.txt:0-9", "text": "您继续使用即视为同意", "labels_before": [],
              "labels_after": ["bundled_consent"], "reviewer": "r9", "document": "policy.txt", "start": 0, "end": 10}
    assert httpx.post(url + "/feedback", json=clause).status_code == 201
    assert main(["feedback", "export", "--data-dir", str(data_dir), "--output", str(tmp_path / "both.jsonl")]) == 2


def test_limits_and_bad_corrections_answer_with_a_clear_message(server, page):
    url, _ = server
    upload = url + "/review/upload"
    too_many = "".join(f"消息{i}\n" for i in range(MAX_RECORDS + 1)).encode()
    response = httpx.post(upload, params={"task": "messages", "filename": "m.txt"}, content=too_many)
    assert response.status_code == 413 and f"more than {MAX_RECORDS} records" in response.json()["detail"]
    response = httpx.post(upload, params={"task": "clauses", "filename": "big.txt"}, content="条款。".encode() * 8000)
    assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]
    for params, body, words in [({"task": "messages", "filename": "m.pdf"}, b"x", "unsupported input type .pdf"),
                                ({"task": "messages", "filename": "m.csv"}, b"content\nx\n", "no 'text' column"),
                                ({"task": "messages", "filename": "m.txt"}, b"  \n", "m.txt is empty"),
                                ({"task": "sms", "filename": "m.txt"}, b"x", "task"),
                                ({"task": "messages", "filename": "m.txt", "encoding": "klingon"}, b"x", "unknown encoding")]:
        response = httpx.post(upload, params=params, content=body)
        assert response.status_code == 422 and words in response.json()["detail"], response.text
    good = feedback(999, "carol", ["insult"])
    for body, words in [({**good, "labels_after": ["insult", "threat"]}, "unknown label 'threat'"),
                        ({k: v for k, v in good.items() if k != "reviewer"}, "reviewer: Field required"),
                        ({k: v for k, v in good.items() if k != "labels_after"}, "labels_after: Field required"),
                        ({**good, "reviewer": "  "}, "reviewer: empty"),
                        ({**good, "document": "p.txt", "start": 0, "end": 3}, "for clauses only"),
                        ({**good, "task": "clauses", "labels_after": []}, "needs its document and its span"),
                        ({**good, "id": 7}, "id: Input should be a valid string")]:
        response = httpx.post(url + "/feedback", json=body)
        assert response.status_code == 422 and words in response.json()["detail"], response.text
    assert httpx.post(url + "/feedback", json={**good, "model_version": "sha256:0"}).status_code == 409

    page.goto(url + "/")
    page.fill("#paste", too_many.decode())
    page.click("#scan-paste")
    page.wait_for_selector("#status.error")
    assert f"more than {MAX_RECORDS} records" in page.text_content("#status")


def test_token_is_required_on_every_endpoint(guard, tmp_path):
    app = create_app(guard, max_body_bytes=MAX_BODY_BYTES, max_records=MAX_RECORDS, timeout=30, batch_size=64,
                     store=FeedbackStore(tmp_path / "data"), token=TOKEN)
    requests = [("GET", "/", {}), ("GET", "/health", {}), ("GET", "/review/info", {}), ("GET", "/openapi.json", {}),
                ("GET", "/docs", {}), ("POST", "/scan", {"json": {"task": "messages", "records": [{"text": "你好"}]}}),
                ("POST", "/review/upload?task=messages&filename=m.txt", {"content": "你好\n".encode()}),
                ("POST", "/feedback", {"json": feedback(1, "dave", [])})]
    basic = base64.b64encode(f"dave:{TOKEN}".encode()).decode()
    with TestClient(app) as client:  # the app in a thread of its own: Playwright's loop may hold this one
        results = [(path, headers, client.request(method, path, headers=headers, **body))
                   for method, path, body in requests
                   for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abc"}, {"Authorization": TOKEN},
                                   {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Basic {basic}"})]
    for path, headers, response in results:
        if headers.get("Authorization", "").endswith((TOKEN, basic)) and headers["Authorization"] != TOKEN:
            assert response.status_code in (200, 201), (path, headers, response.text)
        else:
            assert response.status_code == 401, (path, headers)
            assert "Bearer TOKEN" in response.json()["detail"]
            assert response.headers["www-authenticate"].startswith("Basic" if path == "/" else "Bearer")


def test_the_page_works_behind_a_token(browser, tmp_path):
    with serving(tmp_path / "stderr.log", "--token", TOKEN, "--data-dir", str(tmp_path / "data")) as url:
        assert httpx.get(url + "/").status_code == 401
        context = browser.new_context(http_credentials={"username": "erin", "password": TOKEN})
        page = context.new_page()
        page.goto(url + "/")
        page.fill("#reviewer", "erin")
        page.fill("#paste", "明早八点我们的人就到你单位门口等你，不信你试试。")
        page.click("#scan-paste")
        page.wait_for_selector(".item.flagged")
        page.keyboard.press("c")
        assert page.locator(".item .state.saved").text_content() == "saved: confirmed"
        context.close()
    assert FeedbackStore(tmp_path / "data").latest("messages")[0]["labels"] == ["intimidation"]


def test_feedback_without_a_data_dir_is_refused_and_the_page_says_so(guard):
    app = create_app(guard, max_body_bytes=MAX_BODY_BYTES, max_records=MAX_RECORDS, timeout=30, batch_size=64)
    with TestClient(app) as client:
        info, response = client.get("/review/info").json(), client.post("/feedback", json=feedback(1, "f", []))
    assert info["feedback"] is False and info["limits"]["max_records"] == MAX_RECORDS
    assert [l["id"] for l in info["models"]["clauses"]["labels"]] == guard.labels("clauses")
    assert response.status_code == 503 and "--data-dir" in response.json()["detail"]


def test_serving_beyond_loopback_without_a_token_warns(guard, monkeypatch, capsys):
    from nlpguard.apps import serve

    monkeypatch.setattr(serve.Guard, "load", lambda *args, **kwargs: guard)
    monkeypatch.setattr(serve.uvicorn, "run", lambda *args, **kwargs: None)
    options = dict(max_body_bytes=1000, max_records=10, timeout=5, batch_size=8)
    serve.run(None, "0.0.0.0", 8000, **options)
    assert "WARNING: 0.0.0.0 is reachable from other machines and no --token is set" in capsys.readouterr().err
    serve.run(None, "0.0.0.0", 8000, token=TOKEN, **options)
    serve.run(None, "::1", 8000, **options)
    assert "WARNING" not in capsys.readouterr().err


def test_reviewed_labels_override_the_corpus_only_for_review_records(tmp_path):
    splits = {"train": [Example("a", "您使用即同意。", ["bundled_consent"]), Example("b", "本条款公平。", [])],
              "dev": [Example("c", "您使用即同意。 ", ["bundled_consent"])], "test": []}
    reviews = [Example("r1", "您使用即同意。", [], source="review", extra={"reviewed_at": "2026-01-02T00:00:00Z"}),
               Example("r2", "您使用即同意。", ["unilateral_terms"], source="review",
                       extra={"reviewed_at": "2026-01-01T00:00:00Z"}),       # older: the later review wins
               Example("r3", "新条款。", ["liability_waiver"], source="review")]
    merge = apply_reviews(splits, reviews)
    assert (merge.reviewed, merge.overridden, merge.confirmed, merge.added) == (2, 2, 0, 1)
    assert splits["train"][0].labels == [] and splits["dev"][0].labels == []    # same text after NFKC and spaces
    assert splits["train"][-1].text == "新条款。" and splits["test"] == []

    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": "a", "text": "同一条款。", "labels": []},
                                                      {"id": "b", "text": "同一条款。", "labels": ["bundled_consent"]}])
    assert any("duplicate text" in problem for problem in validate_file(corpus))   # non-review conflicts stay errors
    only_reviews = write_jsonl(tmp_path / "review.jsonl", [{"id": "r", "text": "条款。", "labels": [], "source": "review"}])
    from nlpguard.training.train import TrainConfig, load_splits

    with pytest.raises(DataError, match="only reviewed records"):
        load_splits(TrainConfig(task="clauses", data=[str(only_reviews)], output=str(tmp_path / "m")))
