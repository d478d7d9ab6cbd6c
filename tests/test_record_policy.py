"""The record policy on files as users really have them: degenerate answers are scored,
records nobody can interpret are skipped, counted per reason and listed by id (in
results.json and on the terminal), --strict makes any skip an error, and a file that
cannot be read at all is one DataError line naming it.

The HH-RLHF fixture is generated here in exactly Anthropic's shape (jsonl.gz of
{chosen, rejected} transcripts), with the record kinds the official harmless-base test
file has: empty last Assistant turns and transcripts that differ before the last turn.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import SkipLog, SkipRecord, load_preferences, load_sft, load_unpaired
from rmbench.data.loading import _data_suffix as data_suffix
from rmbench.data.loading import read_records
from rmbench.data.skips import MAX_IDS
from rmbench.errors import DataError

runner = CliRunner()


def hh(*turns: str) -> str:
    """A transcript in Anthropic's spelling: "\\n\\nHuman: ...\\n\\nAssistant: ..." turns."""
    roles = ("Human", "Assistant")
    return "".join(f"\n\n{roles[n % 2]}:" + (f" {text}" if text else "") for n, text in enumerate(turns))


def hh_rlhf_records() -> tuple[list[dict], dict[int, str]]:
    """12 records: 8 ordinary, 2 with an empty last Assistant turn (one per side, valid
    empty answers), 2 whose chosen and rejected differ before the last turn (skipped).
    Returns the records and {index: reason} for those that must be skipped."""
    records = []
    for n in range(8):
        prompt = [f"question {n}?"] if n % 2 else [f"hello {n}", "hi, what can I do?", f"question {n}?"]
        records.append({"chosen": hh(*prompt, f"a long and careful answer to question {n}, with reasons"),
                        "rejected": hh(*prompt, "no")})
    records.append({"chosen": hh("How do I pick a lock?", ""), "rejected": hh("How do I pick a lock?", "Sure, first")})
    records.append({"chosen": hh("Tell me a secret", "I have none to tell, sorry about that"),
                    "rejected": hh("Tell me a secret", "")})
    records.append({"chosen": hh("hi", "hello there", "bye", "goodbye, take care"),
                    "rejected": hh("hi", "go away", "bye", "whatever")})
    records.append({"chosen": hh("what is 2+2", "4", "and 3+3", "6, since 3+3=6"),
                    "rejected": hh("what is 2+3", "4", "and 3+3", "7")})
    return records, {10: "diverging-prefix", 11: "diverging-prefix"}


def write_jsonl_gz(path: Path, records: list) -> Path:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    return path


def write_json(path: Path, records) -> Path:
    path.write_text(json.dumps(records))
    return path


# --------------------------------------------------------------------------------------
# HH-RLHF end to end through the CLI
# --------------------------------------------------------------------------------------


def test_hh_rlhf_file_evaluates_with_skips_counted_and_listed(tmp_path):
    records, skipped = hh_rlhf_records()
    data = write_jsonl_gz(tmp_path / "test.jsonl.gz", records)
    out = tmp_path / "run"
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--out", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["subsets"]["test"]["n"] == len(records) - len(skipped) == 10
    assert record["skipped"]["count"] == 2
    assert record["skipped"]["by_reason"] == {"diverging-prefix": 2}
    assert record["skipped"]["ids"] == [f"test-{i}" for i in skipped]
    assert "test.jsonl.gz record 10: chosen and rejected transcripts differ" in record["skipped"]["first"][
        "diverging-prefix"]
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert {row["id"] for row in rows} == {f"test-{i}" for i in range(10)}
    # the empty chosen answer (record 8) is scored: baseline:length prefers the longer rejected
    empty_chosen = next(row for row in rows if row["id"] == "test-8")
    assert empty_chosen["chosen_scores"] == [0.0] and empty_chosen["correct"] == 0.0
    assert next(row for row in rows if row["id"] == "test-9")["correct"] == 1.0
    line = next(line for line in result.output.splitlines() if "skipped" in line)
    assert "skipped 2 records (diverging-prefix 2)" in line and "test-10, test-11" in line
    assert record["partial"] is False and record["label"] == "custom"


def test_strict_turns_the_first_skip_into_an_error_naming_the_record(tmp_path):
    records, _ = hh_rlhf_records()
    data = write_jsonl_gz(tmp_path / "test.jsonl.gz", records)
    out = tmp_path / "run"
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--strict",
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert "test.jsonl.gz record 10: chosen and rejected transcripts differ" in result.output
    assert "reason: diverging-prefix" in result.output
    assert not (out / "results.json").exists()


def test_hh_rlhf_empty_last_turns_are_valid_empty_answers(tmp_path):
    records, _ = hh_rlhf_records()
    examples = load_preferences(str(write_jsonl_gz(tmp_path / "test.jsonl.gz", records[8:10])), strict=True)
    assert [e.chosen for e in examples] == [[""], ["I have none to tell, sorry about that"]]
    assert [e.rejected for e in examples] == [["Sure, first"], [""]]
    assert examples[0].prompt == [{"role": "user", "content": "How do I pick a lock?"}]


# --------------------------------------------------------------------------------------
# Degenerate but valid records
# --------------------------------------------------------------------------------------


def test_whitespace_only_llmbar_output_loads_and_is_scored(tmp_path):
    records = [{"input": "Say hi.", "output_1": "hi", "output_2": "  \n", "label": 1},
               {"input": "Say bye.", "output_1": "\t", "output_2": "bye", "label": 2}]
    examples = load_preferences(str(write_json(tmp_path / "natural.json", records)), strict=True)
    assert [(e.chosen, e.rejected) for e in examples] == [(["hi"], ["  \n"]), (["bye"], ["\t"])]


def test_empty_completions_in_every_kind_of_data(tmp_path):
    pairs = write_json(tmp_path / "pairs.json", [{"prompt": "p", "chosen": "", "rejected": " "}])
    assert load_preferences(str(pairs), strict=True)[0].chosen == [""]
    kto = write_json(tmp_path / "kto.json", [{"prompt": "p", "completion": "", "label": False}])
    assert load_unpaired(str(kto), strict=True)[0].completion == ""
    sft = write_json(tmp_path / "sft.json", [{"instruction": "say nothing", "output": ""}])
    assert load_sft(str(sft), strict=True)[0].completion == ""


# --------------------------------------------------------------------------------------
# Skips: reasons, ids, bounds, whole-file failures
# --------------------------------------------------------------------------------------


def test_each_kind_of_uninterpretable_record_has_its_reason(tmp_path):
    good = {"prompt": "p", "chosen": "c", "rejected": "r"}
    records = [good, "just a string", {"prompt": "p", "chosen": "c"}, {**good, "chosen": 3},
               {"prompt": [], "chosen": "c", "rejected": "r"},
               {"prompt": "p", "chosen": [{"role": "user", "content": "x"}], "rejected": "r"},
               {**good, "prompt": "\ud800 lone surrogate"}]
    skips = SkipLog()
    examples = load_preferences(str(write_json(tmp_path / "mixed.json", records)), skips=skips)
    assert [e.id for e in examples] == ["mixed-0"]
    assert skips.to_record()["by_reason"] == {"bad-value": 2, "empty-prompt": 1, "missing-field": 1,
                                              "no-reply": 1, "not-an-object": 1}
    assert skips.ids == [f"mixed-{n}" for n in range(1, 7)]


def test_a_malformed_first_record_does_not_decide_the_format(tmp_path):
    records = [{"input": "x", "output_1": "a"}, {"input": "Say hi.", "output_1": "hi", "output_2": "no", "label": 1}]
    skips = SkipLog()
    (example,) = load_preferences(str(write_json(tmp_path / "bar.json", records)), skips=skips)
    assert example.chosen == ["hi"] and skips.by_reason == {"missing-field": 1}


def test_a_source_whose_every_record_is_skipped_is_an_error(tmp_path):
    records, _ = hh_rlhf_records()
    path = write_jsonl_gz(tmp_path / "hh.jsonl.gz", records[10:])
    with pytest.raises(DataError, match=r"hh\.jsonl\.gz record 0: chosen and rejected .*every record of .* skipped"):
        load_preferences(str(path))


def test_skipped_ids_are_bounded_but_the_count_is_not(tmp_path):
    records = [{"input": "x", "output_1": "a", "output_2": "b", "label": 3}] * 250
    records.append({"input": "Say hi.", "output_1": "hi", "output_2": "no", "label": 1})
    skips = SkipLog()
    load_preferences(str(write_json(tmp_path / "bar.json", records)), skips=skips)
    record = skips.to_record()
    assert record["count"] == 250 and len(record["ids"]) == MAX_IDS == 100
    assert record["ids_omitted"] == 150 and record["ids"][:2] == ["bar-0", "bar-1"]


def test_without_a_log_skips_are_logged_not_silent(tmp_path, caplog):
    records, _ = hh_rlhf_records()
    load_preferences(str(write_jsonl_gz(tmp_path / "test.jsonl.gz", records)))
    assert "skipped 2 records (diverging-prefix 2)" in caplog.text


def test_an_adapter_outside_rmbench_data_uses_the_same_mechanism():
    from rmbench.data.adapters import Adapter

    class OnlyShort(Adapter):
        name = "only-short"

        def build(self, rec):
            raise rec.skip("too-long", "longer than this adapter takes")

    with pytest.raises(SkipRecord) as caught:
        OnlyShort().convert({"id": 7, "x": 1}, 0, source="f.json")
    assert (caught.value.reason, caught.value.id) == ("too-long", "7")
    assert str(caught.value) == "f.json record 0: longer than this adapter takes"
    assert isinstance(caught.value, DataError)  # one clear line when nothing collects it


# --------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------


def test_the_same_data_twice_is_refused_and_overlaps_are_counted_once(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    data = write_json(folder / "pairs.json", [{"prompt": "p", "chosen": "long answer", "rejected": "no"}] * 1
                      + [{"prompt": "q", "chosen": "yes", "rejected": "a long rejected"}])
    base = ["eval", "--reward", "baseline:length", "--no-progress"]
    twice = runner.invoke(app, [*base, "--data", str(data), "--data", str(folder / ".." / "data" / "pairs.json")])
    assert twice.exit_code == 2 and "is given twice" in twice.output and "evaluated once" in twice.output
    out = tmp_path / "run"
    overlap = runner.invoke(app, [*base, "--data", str(folder), "--data", str(data), "--out", str(out)])
    assert overlap.exit_code == 0, overlap.output
    record = json.loads((out / "results.json").read_text())
    assert record["subsets"]["pairs"]["n"] == 2
    assert record["skipped"]["by_reason"] == {"duplicate": 2}
    assert [source["n"] for source in record["data"]] == [2, 0]


# --------------------------------------------------------------------------------------
# Files that cannot be read: one DataError line naming the file
# --------------------------------------------------------------------------------------


def unreadable(tmp_path, monkeypatch):
    path = write_json(tmp_path / "locked.json", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    real = Path.read_bytes

    def deny(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    return path


BAD_FILES = {
    "lone surrogate bytes": ("bad.jsonl", b'{"prompt": "\xed\xa0\x80", "chosen": "c", "rejected": "r"}\n',
                             r"bad\.jsonl: not UTF-8 text"),
    "latin-1 bytes": ("bad.json", b'[{"prompt": "caf\xe9", "chosen": "c", "rejected": "r"}]',
                      r"bad\.json: not UTF-8 text"),
    "200k-deep nesting": ("deep.json", b"[" * 200_000 + b"]" * 200_000, r"deep\.json: JSON nested too deeply"),
    "deep line": ("deep.jsonl", b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n",
                  r"deep\.jsonl: JSON nested too deeply to read at line 1"),
    "10,000-digit integer": ("big.json", b'[{"prompt": "p", "chosen": "c", "rejected": "r", "n": '
                             + b"9" * 10_000 + b"}]", r"big\.json: unreadable JSON value .*digits"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_content_is_one_line_naming_the_file(tmp_path, case):
    name, content, message = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        load_preferences(str(path))
    assert "\n" not in str(caught.value)


def test_a_lone_surrogate_escape_skips_that_record_only(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "\\ud800", "chosen": "c", "rejected": "r"}\n{"prompt": "ok", "chosen": "c", '
                    '"rejected": "r"}\n')
    skips = SkipLog()
    assert [e.prompt[0]["content"] for e in load_preferences(str(path), skips=skips)] == ["ok"]
    assert skips.by_reason == {"bad-value": 1}


def test_a_folder_named_like_a_file_and_an_unreadable_file(tmp_path, monkeypatch):
    folder = tmp_path / "data.json"
    folder.mkdir()
    with pytest.raises(DataError, match=r"data\.json: folder holds no data files"):
        load_preferences(str(folder))
    (folder / "inner.json").mkdir()  # a folder inside, named like a data file, is not one
    with pytest.raises(DataError, match=r"data\.json: folder holds no data files"):
        load_preferences(str(folder))
    with pytest.raises(DataError, match=r"inner\.json: is a folder, expected a data file"):
        read_records(folder / "inner.json")
    path = unreadable(tmp_path, monkeypatch)
    with pytest.raises(DataError, match=r"locked\.json: cannot read \(Permission denied\)"):
        load_preferences(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission(tmp_path):
    path = write_json(tmp_path / "locked.json", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    path.chmod(0)
    with pytest.raises(DataError, match=r"locked\.json: cannot read"):
        load_preferences(str(path))


def test_cli_prints_read_failures_as_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error:") and "deep.json: JSON nested too deeply" in result.output


# --------------------------------------------------------------------------------------
# Every shared data file loads
# --------------------------------------------------------------------------------------

# Files whose counts are pinned (../shared/data/README.md): each loads whole, nothing skipped.
KNOWN_WHOLE = {"llmbar/natural.json": 100, "llmbar/adversarial_neighbor.json": 134, "rm-bench/chat_filtered.json": 129,
               "rm-bench/code_filtered.json": 228, "llamafactory/dpo_en_demo.json": 300,
               "llamafactory/kto_en_demo.json": 300, "llamafactory/alpaca_en_demo.json": 999}


def test_every_shared_data_file_loads(shared_data):
    files = [f for f in sorted(shared_data.rglob("*")) if f.is_file() and data_suffix(f)]
    assert len(files) >= len(KNOWN_WHOLE)
    for file in files:
        raw = len(read_records(file))
        for loader in (load_preferences, load_unpaired, load_sft):
            skips = SkipLog()
            try:
                examples = loader(str(file), skips=skips)
            except DataError as error:
                if "looks like" in str(error):  # another kind of data: try its own loader
                    continue
                raise
            break
        else:
            pytest.fail(f"{file}: no loader takes it")
        assert examples and len(examples) + skips.count == raw, (file, skips.to_record())
        name = str(file.relative_to(shared_data))
        if name in KNOWN_WHOLE:
            assert (len(examples), skips.count) == (KNOWN_WHOLE[name], 0), name
