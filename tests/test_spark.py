"""``nlpguard.apps.spark``: Spark gives exactly the records of ``nlpguard scan``, as a job too."""
import glob
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

from pyspark.sql import SparkSession

from nlpguard.apps.spark import scan_dataframe, to_records

REPO = Path(__file__).resolve().parent.parent
N_MESSAGES = 20_000
KNOWN = "三天内不还钱就爆你通讯录，让你全家都知道你是老赖"


@pytest.fixture(scope="module")
def spark():
    """A local two-core session for this module (workers run this interpreter)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        session = (SparkSession.builder.master("local[2]").appName("nlpguard-tests")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.ui.enabled", "false")
                   .getOrCreate())
        yield session
        session.stop()


def project_texts() -> list[str]:
    """Message texts of the project's own data (no ../shared)."""
    paths = [REPO / "data" / "messages" / f"{split}.jsonl" for split in ("train", "dev", "test")]
    paths += sorted(Path(p) for p in glob.glob(str(REPO / "data" / "authoring" / "messages" / "*.jsonl")))
    return [json.loads(line)["text"] for path in paths for line in open(path, encoding="utf-8") if line.strip()]


def message_rows(n: int, bad: bool = True) -> list[dict]:
    """``n`` messages with ids m00001..., cycling the project's texts, plus (``bad``) three rows the CLI cannot scan."""
    rows = [{"id": f"m{i:05d}", "text": text} for i, text in enumerate(itertools.islice(itertools.cycle(project_texts()), n), 1)]
    if not bad:
        return rows
    rows.insert(1, {"id": "bad-empty", "text": ""})
    rows.insert(n // 2, {"id": "bad-blank", "text": " \t "})
    rows.append({"id": "bad-null", "text": None})
    return rows


def write_inputs(rows: list[dict], folder: Path) -> tuple[Path, Path]:
    """The rows as JSON Lines (for the CLI) and as Parquet (for Spark)."""
    jsonl = folder / "messages.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    parquet = folder / "messages.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}), parquet)
    return jsonl, parquet


def test_spark_records_equal_cli_records(spark, tmp_path):
    rows = message_rows(N_MESSAGES)
    jsonl, parquet = write_inputs(rows, tmp_path)
    output = tmp_path / "cli.jsonl"
    cli = subprocess.Popen([sys.executable, "-m", "nlpguard", "scan", str(jsonl), "--task", "messages",
                            "--output", str(output), "--progress", "off"], stderr=subprocess.PIPE)
    # two partitions: both workers load the model, and order across partitions is restored below
    scanned = scan_dataframe(spark.read.parquet(str(parquet)).repartition(2), "messages")
    order = {row["id"]: index for index, row in enumerate(rows)}
    spark_lines = [json.dumps(record, ensure_ascii=False)
                   for record in sorted(to_records(scanned.toArrow().to_pylist()), key=lambda r: order[r["id"]])]
    _, err = cli.communicate()
    assert cli.returncode == 1, err.decode("utf-8")
    cli_lines = output.read_text(encoding="utf-8").splitlines()
    assert len(spark_lines) == len(cli_lines) == len(rows) == N_MESSAGES + 3
    assert spark_lines == cli_lines
    errors = {r["id"]: r for r in map(json.loads, cli_lines) if "error" in r}
    assert errors == {"bad-empty": {"id": "bad-empty", "error": "empty 'text'"},
                      "bad-blank": {"id": "bad-blank", "error": "empty 'text'"},
                      "bad-null": {"id": "bad-null", "error": "missing 'text'"}}


def test_spark_submit_job_writes_parquet(tmp_path):
    rows = message_rows(198, bad=False) + [{"id": "bad-empty", "text": ""}, {"id": "known", "text": KNOWN}]
    _, parquet = write_inputs(rows, tmp_path)
    output = tmp_path / "flagged.parquet"
    bin_dir = Path(sys.executable).parent
    launcher = ([str(bin_dir / "spark-submit"), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                 "nlpguard/apps/spark.py"] if (bin_dir / "spark-submit").is_file() else [sys.executable, "-m", "nlpguard.apps.spark"])
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*launcher, "--input", str(parquet), "--output", str(output), "--task", "messages"],
                          check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]  # one empty text among the rows
    assert "1 record(s) could not be scanned" in proc.stdout + proc.stderr  # spark-submit sends Python's stderr to stdout
    table = pd.read_parquet(output)
    assert len(table) == len(rows) == 200
    known = table[table["id"] == "known"].iloc[0]
    assert "privacy_disclosure" in list(known["labels"])
    assert table[table["id"] == "bad-empty"].iloc[0]["error"] == "empty 'text'"


def test_null_id_becomes_empty_string(spark):
    df = spark.createDataFrame([(None, KNOWN), (7, "周末一起去爬山吗？我带水")], "id bigint, text string")
    records = list(to_records(scan_dataframe(df).collect()))
    assert [r["id"] for r in records] == ["", "7"]
    assert "privacy_disclosure" in records[0]["labels"] and records[1]["labels"] == []
    assert {"severity", "grounds"} <= set(records[0]["evidence"][0]) and "heading" not in records[0]["evidence"][0]


@pytest.mark.parametrize("schema, kwargs, message", [
    ("id string, body string", {}, r"no text column 'text'.*columns: id, body"),
    ("id string, text bigint", {}, r"'text' is bigint, not string"),
    ("key string, text string", {}, r"no id column 'id'.*monotonically_increasing_id"),
    ("id string, text string", {"thresholds": {"nope": 0.5}}, r"unknown label 'nope'"),
    ("id string, text string", {"thresholds": {"insult": 1.5}}, r"between 0 and 1"),
])
def test_bad_arguments_raise_before_any_job(spark, schema, kwargs, message):
    with pytest.raises(ValueError, match=message):
        scan_dataframe(spark.createDataFrame([], schema), "messages", **kwargs)


def test_kept_input_columns_ride_along_row_for_row(spark):
    df = spark.createDataFrame([("a", KNOWN, "agent-7", 3), ("b", "周末一起去爬山吗？我带水", "agent-8", 5), ("c", "", None, 1)],
                               "id string, text string, sender string, attempt int")
    rows = [r.asDict() for r in scan_dataframe(df, keep=["sender", "attempt"]).collect()]
    assert [(r["id"], r["sender"], r["attempt"]) for r in rows] == [("a", "agent-7", 3), ("b", "agent-8", 5), ("c", None, 1)]
    assert "privacy_disclosure" in rows[0]["labels"] and rows[2]["error"] == "empty 'text'"
    with pytest.raises(ValueError, match="would overwrite output columns"):
        scan_dataframe(df, keep=["labels"])
    with pytest.raises(ValueError, match="no column"):
        scan_dataframe(df, keep=["campaign"])
