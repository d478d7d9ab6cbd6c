"""`rmbench train` follows eval's record policy: a malformed training record is skipped,
counted per reason and listed by id in the run file (rmbench-run.json), with one terminal
line; --strict makes it an error (tests/test_bad_input_train.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.runs import RUN_FILE
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
FAST = ["--no-progress", "--set", "max_steps=1", "--set", "save_steps=1", "--set", "baselines=[]",
        "--set", "heldout_fraction=0.25", "--set", "per_device_train_batch_size=2"]


def test_malformed_training_records_are_skipped_counted_listed_and_the_run_trains(tmp_path):
    rows = [{"prompt": f"question {i}", "chosen": "the capital of france is paris", "rejected": "no."}
            for i in range(10)]
    rows[2]["chosen"] = 5                      # bad-value
    rows[7] = {"prompt": "question 7", "chosen": "yes"}  # missing-field: no rejected
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "rm", "--model", str(tiny.save_classifier(tmp_path / "start")),
                                 "--data", str(data), "--out", str(run), *FAST])
    assert result.exit_code == 0, result.output
    record = json.loads((run / RUN_FILE).read_text())
    assert record["skipped"]["by_reason"] == {"bad-value": 1, "missing-field": 1}
    assert record["skipped"]["ids"] == ["pairs-2", "pairs-7"] and record["skipped"]["ids_omitted"] == 0
    assert "pairs.jsonl record 7" in record["skipped"]["first"]["missing-field"]
    assert record["excluded"]["count"] == 0 and record["request"]["strict"] is False
    heldout = (run / "heldout.jsonl").read_text().count("\n") + (run / "train-split.jsonl").read_text().count("\n")
    assert heldout == 8  # the two skipped records are in neither split
    notes = [line for line in result.output.splitlines() if "skipped" in line]
    assert len(notes) == 1, result.output
    assert notes[0].startswith("note: skipped 2 records (bad-value 1, missing-field 1): pairs-2, pairs-7")
    assert f"ids listed in {RUN_FILE}" in notes[0] and "--strict" in notes[0]
