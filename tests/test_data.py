"""Loading every supported data format into the schema, and every way loading can fail.

Fixtures are small hand-written records in each upstream format, so the expected prompt
messages, completions, subsets and ids below can be checked exactly. The real files in
../shared/data are read where present, to pin their counts and the loader each needs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rmbench.data import (
    FORMATS,
    PreferenceExample,
    SFTExample,
    SkipLog,
    UnpairedExample,
    detect_format,
    load_preferences,
    load_sft,
    load_unpaired,
)
from rmbench.data.loading import load_hub_records
from rmbench.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def write_json(path: Path, records: object) -> Path:
    path.write_text(json.dumps(records, indent=2))
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    text = "".join(json.dumps(record) + "\n" for record in records)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_parquet(path: Path, records: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


# --------------------------------------------------------------------------------------
# Upstream records, one small set per format
# --------------------------------------------------------------------------------------

REWARDBENCH_V1 = [
    {
        "prompt": "How do I bake bread?",
        "chosen": "Mix flour, water, yeast.",
        "rejected": "Buy it.",
        "chosen_model": "gpt-4",
        "rejected_model": "llama-7b",
        "subset": "alpacaeval-easy",
        "id": 30,
    },
    {
        "prompt": "2+2?",
        "chosen": "4",
        "rejected": "5",
        "chosen_model": "human",
        "rejected_model": "human",
        "subset": "math-prm",
        "id": 31,
    },
]

REWARDBENCH_2 = [
    {
        "id": "17",
        "prompt": "Name a prime.",
        "chosen": ["7"],
        "rejected": ["8", "9", "10"],
        "num_correct": 1,
        "num_incorrect": 3,
        "total_completions": 4,
        "models": ["a", "b", "c", "d"],
        "subset": "Math",
    },
    {
        "id": "ref:1",
        "prompt": "Tell a joke.",
        "chosen": ["joke one", "joke two"],
        "rejected": ["not a joke"],
        "num_correct": 2,
        "num_incorrect": 1,
        "total_completions": 3,
        "models": ["a", "b", "c"],
        "subset": "Ties",
    },
    {
        "id": "tied:1",
        "prompt": "Tell a joke.",
        "chosen": ["joke one", "joke two"],
        "rejected": ["not a joke"],
        "num_correct": 2,
        "num_incorrect": 1,
        "total_completions": 3,
        "models": ["a", "b", "c"],
        "subset": "Ties",
    },
]

HH_RLHF = [
    {
        "chosen": "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact."
        "\n\nAssistant: Octopuses have three hearts.",
        "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact."
        "\n\nAssistant: No.",
    },
    {
        "chosen": "\n\nHuman: Is water wet?\n\nAssistant:  It depends on the definition.",
        "rejected": "\n\nHuman: Is water wet?\n\nAssistant: Yes",
    },
]

SHAREGPT = [
    {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello"},
            {"from": "human", "value": "Sum 1 and 2"},
        ],
        "chosen": {"from": "gpt", "value": "3"},
        "rejected": {"from": "gpt", "value": "12"},
    },
    {
        "system": "Be brief.",
        "conversations": [{"from": "user", "value": "Capital of France?"}],
        "chosen": {"from": "assistant", "value": "Paris"},
        "rejected": {"from": "gpt", "value": "Lyon"},
    },
]

LLMBAR = [
    {"input": "Say hi.", "output_1": "hi", "output_2": "bye", "label": 1},
    {"input": "Count to 2.", "output_1": "1, 3", "output_2": "1, 2", "label": 2},
]


def rm_bench_record(record_id: int, **extra: object) -> dict:
    styles = ("concise", "detailed plain", "detailed **markdown**")
    return {
        "id": record_id,
        "subset": "alpacaeval",
        "prompt": f"Question {record_id}",
        "chosen": [f"right, {style}" for style in styles],
        "rejected": [f"wrong, {style}" for style in styles],
        **extra,
    }


# --------------------------------------------------------------------------------------
# Preference formats
# --------------------------------------------------------------------------------------


def test_rewardbench_v1_keeps_ids_and_subsets_and_puts_models_in_meta(tmp_path):
    examples = load_preferences(str(write_json(tmp_path / "filtered.json", REWARDBENCH_V1)))
    assert examples == [
        PreferenceExample(
            "30",
            "alpacaeval-easy",
            [user("How do I bake bread?")],
            ["Mix flour, water, yeast."],
            ["Buy it."],
            {"chosen_model": "gpt-4", "rejected_model": "llama-7b"},
        ),
        PreferenceExample(
            "31",
            "math-prm",
            [user("2+2?")],
            ["4"],
            ["5"],
            {"chosen_model": "human", "rejected_model": "human"},
        ),
    ]


def test_explicit_subset_wins_and_keeps_the_column_in_meta(tmp_path):
    path = write_json(tmp_path / "filtered.json", REWARDBENCH_V1)
    examples = load_preferences(str(path), subset="mine")
    assert [example.subset for example in examples] == ["mine", "mine"]
    assert examples[0].meta["source_subset"] == "alpacaeval-easy"


def test_rewardbench2_keeps_ties_ids_and_counts(tmp_path):
    examples = load_preferences(str(write_json(tmp_path / "test.json", REWARDBENCH_2)))
    assert [(example.id, example.subset) for example in examples] == [
        ("17", "Math"),
        ("ref:1", "Ties"),
        ("tied:1", "Ties"),
    ]
    first = examples[0]
    assert first.prompt == [user("Name a prime.")]
    assert (first.chosen, first.rejected) == (["7"], ["8", "9", "10"])
    assert first.meta == {
        "num_correct": 1,
        "num_incorrect": 3,
        "total_completions": 4,
        "models": ["a", "b", "c", "d"],
    }
    assert examples[1].chosen == ["joke one", "joke two"]


@pytest.mark.parametrize("name", ["hh.jsonl", "hh.jsonl.gz"])
def test_hh_rlhf_transcripts_become_messages(tmp_path, name):
    examples = load_preferences(str(write_jsonl(tmp_path / name, HH_RLHF)))
    assert examples == [
        PreferenceExample(
            "hh-0",
            "hh",
            [user("Hi there"), assistant("Hello! How can I help?"), user("Tell me a fact.")],
            ["Octopuses have three hearts."],
            ["No."],
        ),
        PreferenceExample("hh-1", "hh", [user("Is water wet?")], ["It depends on the definition."], ["Yes"]),
    ]


def test_hh_rlhf_uses_each_transcripts_own_last_assistant_turn(tmp_path):
    # The replies start alike, so a character-level common prefix would eat "Sure, here".
    record = {
        "chosen": "\n\nHuman: Q\n\nAssistant: Sure, here it is.",
        "rejected": "\n\nHuman: Q\n\nAssistant: Sure, here is nothing.",
    }
    (example,) = load_preferences(str(write_jsonl(tmp_path / "hh.jsonl", [record])))
    assert (example.prompt, example.chosen, example.rejected) == (
        [user("Q")],
        ["Sure, here it is."],
        ["Sure, here is nothing."],
    )


def test_hh_rlhf_prompts_that_differ_are_skipped_and_strict_names_the_record(tmp_path):
    records = [
        HH_RLHF[1],
        {"chosen": "\n\nHuman: One\n\nAssistant: a", "rejected": "\n\nHuman: Two\n\nAssistant: b"},
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", records)
    skips = SkipLog()
    assert [example.id for example in load_preferences(str(path), skips=skips)] == ["hh-0"]
    assert skips.to_record()["by_reason"] == {"diverging-prefix": 1}
    assert skips.ids == ["hh-1"]
    with pytest.raises(DataError, match=r"hh\.jsonl record 1: chosen and rejected transcripts differ"):
        load_preferences(str(path), strict=True)


def test_trl_strings_take_subset_and_ids_from_the_file(tmp_path):
    records = [
        {"prompt": "p0", "chosen": "c0", "rejected": "r0"},
        {"prompt": "p1", "chosen": "c1", "rejected": "r1"},
    ]
    examples = load_preferences(str(write_json(tmp_path / "prefs.json", records)))
    assert examples == [
        PreferenceExample("prefs-0", "prefs", [user("p0")], ["c0"], ["r0"]),
        PreferenceExample("prefs-1", "prefs", [user("p1")], ["c1"], ["r1"]),
    ]


def test_trl_messages_take_the_final_assistant_reply(tmp_path):
    record = {
        "prompt": [{"role": "system", "content": "Be kind."}, user("Hi")],
        "chosen": [assistant("Hello!")],
        "rejected": [assistant("Go away.")],
    }
    (example,) = load_preferences(str(write_jsonl(tmp_path / "conv.jsonl", [record])))
    assert example.prompt == [{"role": "system", "content": "Be kind."}, user("Hi")]
    assert (example.chosen, example.rejected) == (["Hello!"], ["Go away."])


def test_trl_implicit_prompt_is_the_shared_prefix(tmp_path):
    shared = [user("Hi"), assistant("Hello"), user("Sum 1 and 2")]
    record = {"chosen": [*shared, assistant("3")], "rejected": [*shared, assistant("12")]}
    (example,) = load_preferences(str(write_json(tmp_path / "implicit.json", [record])))
    assert example == PreferenceExample("implicit-0", "implicit", shared, ["3"], ["12"])


def test_trl_implicit_prompt_must_be_shared(tmp_path):
    record = {"chosen": [user("A"), assistant("x")], "rejected": [user("B"), assistant("y")]}
    with pytest.raises(DataError, match=r"implicit\.json record 0: .*differ before their last message"):
        load_preferences(str(write_json(tmp_path / "implicit.json", [record])))


def test_sharegpt_maps_roles_and_system(tmp_path):
    examples = load_preferences(str(write_json(tmp_path / "dpo.json", SHAREGPT)))
    assert examples == [
        PreferenceExample(
            "dpo-0", "dpo", [user("Hi"), assistant("Hello"), user("Sum 1 and 2")], ["3"], ["12"]
        ),
        PreferenceExample(
            "dpo-1",
            "dpo",
            [{"role": "system", "content": "Be brief."}, user("Capital of France?")],
            ["Paris"],
            ["Lyon"],
        ),
    ]


def test_sharegpt_unknown_role_is_named(tmp_path):
    record = {
        "conversations": [{"from": "observation", "value": "42"}],
        "chosen": {"from": "gpt", "value": "a"},
        "rejected": {"from": "gpt", "value": "b"},
    }
    with pytest.raises(DataError, match=r"dpo\.json record 0: unknown role 'observation'"):
        load_preferences(str(write_json(tmp_path / "dpo.json", [record])))


def test_llmbar_label_picks_the_better_output(tmp_path):
    examples = load_preferences(str(write_json(tmp_path / "natural.json", LLMBAR)))
    assert examples == [
        PreferenceExample("natural-0", "natural", [user("Say hi.")], ["hi"], ["bye"], {"label": 1}),
        PreferenceExample("natural-1", "natural", [user("Count to 2.")], ["1, 2"], ["1, 3"], {"label": 2}),
    ]


def test_llmbar_bad_label(tmp_path):
    path = write_json(tmp_path / "natural.json", [{**LLMBAR[0], "label": 3}])
    with pytest.raises(DataError, match=r"natural\.json record 0: label is 3, expected 1 or 2"):
        load_preferences(str(path))


def test_rm_bench_domain_comes_from_the_file_name(tmp_path):
    path = write_json(
        tmp_path / "code_filtered.json",
        [rm_bench_record(8, subset="bigcode/humanevalpack", language="cpp", task_id="CPP/8")],
    )
    (example,) = load_preferences(str(path))
    assert (example.id, example.subset, example.prompt) == ("8", "code", [user("Question 8")])
    assert example.chosen == ["right, concise", "right, detailed plain", "right, detailed **markdown**"]
    assert example.rejected == ["wrong, concise", "wrong, detailed plain", "wrong, detailed **markdown**"]
    assert example.meta == {"source_subset": "bigcode/humanevalpack", "language": "cpp", "task_id": "CPP/8",
                            "styles": ["concise", "detailed_plain", "detailed_markdown"]}


def test_rm_bench_needs_three_styles_each(tmp_path):
    record = rm_bench_record(1)
    record["rejected"] = record["rejected"][:2]
    path = write_json(tmp_path / "chat_filtered.json", [record])
    with pytest.raises(
        DataError, match=r"chat_filtered\.json record 0: rm-bench needs exactly 3 chosen .*2 rejected"
    ):
        load_preferences(str(path), format="rm-bench")


def test_parquet_with_list_columns(tmp_path):
    examples = load_preferences(str(write_parquet(tmp_path / "test-00000.parquet", REWARDBENCH_2)))
    assert [(example.id, example.subset, example.rejected) for example in examples] == [
        ("17", "Math", ["8", "9", "10"]),
        ("ref:1", "Ties", ["not a joke"]),
        ("tied:1", "Ties", ["not a joke"]),
    ]


def test_csv(tmp_path):
    path = tmp_path / "bar.csv"
    path.write_text('input,output_1,output_2,label\n"Say hi.",hi,bye,1\n"Count, please",one,"1, 2",2\n')
    examples = load_preferences(str(path))
    assert examples == [
        PreferenceExample("bar-0", "bar", [user("Say hi.")], ["hi"], ["bye"], {"label": 1}),
        PreferenceExample("bar-1", "bar", [user("Count, please")], ["1, 2"], ["one"], {"label": 2}),
    ]


def test_folder_loads_every_data_file_in_name_order(tmp_path):
    write_json(tmp_path / "b_natural.json", LLMBAR[:1])
    write_jsonl(tmp_path / "a_hh.jsonl.gz", HH_RLHF[1:])
    write_json(tmp_path / "c_chat_filtered.json", [rm_bench_record(3)])
    (tmp_path / "LICENSE").write_text("not data")
    examples = load_preferences(str(tmp_path))
    assert [(example.subset, example.id) for example in examples] == [
        ("a_hh", "a_hh-0"),
        ("b_natural", "b_natural-0"),
        ("c_chat", "3"),
    ]


def test_json_object_holding_one_list(tmp_path):
    path = write_json(tmp_path / "wrapped.json", {"version": 2, "data": LLMBAR})
    assert [example.id for example in load_preferences(str(path))] == ["wrapped-0", "wrapped-1"]


def test_duplicate_ids_get_numbered_suffixes(tmp_path):
    records = [
        {"id": key, "prompt": "p", "chosen": f"c{n}", "rejected": "r", "subset": subset}
        for n, (key, subset) in enumerate([("a", "s"), ("a", "s"), ("b", "s"), ("a", "s"), ("a", "t")])
    ]
    examples = load_preferences(str(write_json(tmp_path / "dups.json", records)))
    assert [(example.subset, example.id) for example in examples] == [
        ("s", "a"),
        ("s", "a#2"),
        ("s", "b"),
        ("s", "a#3"),
        ("t", "a"),
    ]


def test_exact_duplicates_are_counted_once_and_reported(tmp_path):
    record = {"id": "a", "prompt": "p", "chosen": "c", "rejected": "r", "subset": "s"}
    path = write_json(tmp_path / "dups.json", [record, dict(record), {**record, "id": "b"}])
    skips = SkipLog()
    assert [example.id for example in load_preferences(str(path), skips=skips)] == ["a", "b"]
    assert skips.to_record()["by_reason"] == {"duplicate": 1}
    with pytest.raises(DataError, match=r"id 'a' in subset 's' was already loaded with the same content"):
        load_preferences(str(path), strict=True)


def test_limit_takes_the_first_examples_across_a_folder(tmp_path):
    write_json(tmp_path / "a.json", LLMBAR)
    write_json(tmp_path / "b.json", LLMBAR)
    assert [example.id for example in load_preferences(str(tmp_path), limit=3)] == ["a-0", "a-1", "b-0"]
    assert len(load_preferences(str(tmp_path / "a.json"), limit=1)) == 1


def test_format_override(tmp_path):
    # A three-and-three record would be detected as RM-Bench; --format says RewardBench 2.
    record = {**rm_bench_record(5), "subset": "Focus"}
    (example,) = load_preferences(str(write_json(tmp_path / "x.json", [record])), format="rewardbench2")
    assert (example.subset, len(example.chosen)) == ("Focus", 3)


# --------------------------------------------------------------------------------------
# Unpaired and SFT formats
# --------------------------------------------------------------------------------------


def test_kto_messages_and_trl_unpaired(tmp_path):
    llamafactory = [
        {"messages": [user("Hi"), assistant("Hello"), user("2+2?"), assistant("4")], "label": True},
        {"messages": [user("2+3?"), assistant("6")], "label": False},
    ]
    trl = [
        {"prompt": "2+2?", "completion": "4", "label": True},
        {"prompt": [user("2+3?")], "completion": [assistant("6")], "label": False},
    ]
    assert load_unpaired(str(write_json(tmp_path / "kto.json", llamafactory))) == [
        UnpairedExample("kto-0", "kto", [user("Hi"), assistant("Hello"), user("2+2?")], "4", True),
        UnpairedExample("kto-1", "kto", [user("2+3?")], "6", False),
    ]
    assert load_unpaired(str(write_jsonl(tmp_path / "trl.jsonl", trl))) == [
        UnpairedExample("trl-0", "trl", [user("2+2?")], "4", True),
        UnpairedExample("trl-1", "trl", [user("2+3?")], "6", False),
    ]


def test_alpaca_and_trl_sft_shapes(tmp_path):
    records = [
        {"instruction": "Translate.", "input": "bonjour", "output": "hello"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {
            "instruction": "And now?",
            "input": "",
            "output": "bye",
            "system": "Be terse.",
            "history": [["Say hi.", "hi"]],
        },
    ]
    assert load_sft(str(write_json(tmp_path / "alpaca.json", records))) == [
        SFTExample("alpaca-0", "alpaca", [user("Translate.\n\nbonjour")], "hello"),
        SFTExample("alpaca-1", "alpaca", [user("Say hi.")], "hi"),
        SFTExample(
            "alpaca-2",
            "alpaca",
            [{"role": "system", "content": "Be terse."}, user("Say hi."), assistant("hi"), user("And now?")],
            "bye",
        ),
    ]
    trl = [{"prompt": "Say hi.", "completion": "hi"}, {"messages": [user("Say bye."), assistant("bye")]}]
    assert load_sft(str(write_jsonl(tmp_path / "sft.jsonl", trl))) == [
        SFTExample("sft-0", "sft", [user("Say hi.")], "hi"),
        SFTExample("sft-1", "sft", [user("Say bye.")], "bye"),
    ]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (REWARDBENCH_V1[0], "trl"),
        (REWARDBENCH_2[0], "rewardbench2"),
        (rm_bench_record(1), "rm-bench"),
        (LLMBAR[0], "llmbar"),
        (SHAREGPT[0], "sharegpt"),
        (HH_RLHF[0], "hh-rlhf"),
        ({"chosen": [user("a"), assistant("b")], "rejected": [user("a"), assistant("c")]}, "trl"),
        ({"messages": [user("a"), assistant("b")], "label": True}, "kto"),
        ({"prompt": "a", "completion": "b", "label": False}, "kto"),
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"prompt": "a", "completion": "b"}, "alpaca"),
    ],
)
def test_detect_format(record, expected):
    assert detect_format(record) == expected
    assert expected in FORMATS


# --------------------------------------------------------------------------------------
# Hub datasets, through the same datasets.load_dataset call on a local repository folder
# --------------------------------------------------------------------------------------


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    """Keep load_dataset's cache inside the test's folder."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    return datasets


def test_hub_loader_reads_a_local_dataset_repository(tmp_path, datasets_cache):
    repo = tmp_path / "reward-bench-2"
    repo.mkdir()
    write_parquet(repo / "test.parquet", REWARDBENCH_2)
    records = load_hub_records(str(repo))
    assert [record["id"] for record in records] == ["17", "ref:1", "tied:1"]
    assert records[0]["rejected"] == ["8", "9", "10"]


def test_hub_loader_asks_for_a_split_when_there_are_several(tmp_path, datasets_cache):
    repo = tmp_path / "reward-bench"
    repo.mkdir()
    write_parquet(repo / "train.parquet", REWARDBENCH_V1[:1])
    write_parquet(repo / "test.parquet", REWARDBENCH_V1[1:])
    with pytest.raises(DataError, match=r"reward-bench: has splits .*; name one with --split"):
        load_hub_records(str(repo))
    assert [record["id"] for record in load_hub_records(str(repo), split="test")] == [31]


def test_hub_ids_go_through_load_dataset(monkeypatch, datasets_cache):
    calls = []

    def fake_load_dataset(source, split=None):
        calls.append((source, split))
        return datasets_cache.Dataset.from_list(REWARDBENCH_V1)

    monkeypatch.setattr(datasets_cache, "load_dataset", fake_load_dataset)
    examples = load_preferences("allenai/reward-bench", split="filtered")
    assert calls == [("allenai/reward-bench", "filtered")]
    assert [(example.id, example.subset) for example in examples] == [
        ("30", "alpacaeval-easy"),
        ("31", "math-prm"),
    ]


def test_hub_failure_says_what_to_do(monkeypatch, datasets_cache):
    def offline(source, split=None):
        raise ConnectionError(f"Couldn't reach '{source}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets_cache, "load_dataset", offline)
    with pytest.raises(DataError, match=r"nobody/nothing: .*Couldn't reach .*hub ids need network access"):
        load_preferences("nobody/nothing")


# --------------------------------------------------------------------------------------
# Errors: each one names the file (and line or record) and says what to do
# --------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"no such file or folder: .*missing\.json"):
        load_preferences(str(tmp_path / "missing.json"))


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"prompt": "p",\n   "chosen": "c" "rejected": "r"}\n]\n')
    with pytest.raises(DataError, match=r"broken\.json: invalid JSON at line 3, column 18"):
        load_preferences(str(path))


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(LLMBAR[0]) + "\n\n" + '{"input": "x", \n')
    with pytest.raises(DataError, match=r"broken\.jsonl: invalid JSON at line 3, column"):
        load_preferences(str(path))


@pytest.mark.parametrize("content", [b"", b"  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"empty\.json: file is empty"):
        load_preferences(str(path))


def test_zero_records(tmp_path):
    with pytest.raises(DataError, match=r"none\.json: holds no records"):
        load_preferences(str(write_json(tmp_path / "none.json", [])))


def test_folder_without_data_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=rf"{tmp_path.name}: folder holds no data files"):
        load_preferences(str(tmp_path))


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"data\.txt: unsupported file type"):
        load_preferences(str(path))


def test_broken_gzip(tmp_path):
    path = tmp_path / "hh.jsonl.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"hh\.jsonl\.gz: not a readable gzip file"):
        load_preferences(str(path))


def test_unknown_format_lists_the_valid_ones(tmp_path):
    path = write_json(tmp_path / "bar.json", LLMBAR)
    with pytest.raises(DataError, match=r"bar\.json: unknown format 'dpo'; valid formats: trl, rewardbench2"):
        load_preferences(str(path), format="dpo")


def test_record_matching_no_format(tmp_path):
    path = write_json(tmp_path / "odd.json", [{"question": "q", "answer": "a"}])
    with pytest.raises(
        DataError,
        match=r"odd\.json record 0: matches no known format \(record has keys: "
        r"answer, question\); known formats: .*pass --format",
    ):
        load_preferences(str(path))


def test_missing_chosen_names_the_key_and_format(tmp_path):
    path = write_json(tmp_path / "half.json", [{"prompt": "p", "answer": "a", "rejected": "r"}])
    with pytest.raises(
        DataError, match=r"half\.json record 0: missing key 'chosen' expected by format 'trl'"
    ):
        load_preferences(str(path), format="trl")


def test_later_record_that_does_not_fit_is_skipped_and_strict_names_its_index(tmp_path):
    records = [*LLMBAR, {"input": "x", "output_1": "a", "label": 1}]
    path = write_json(tmp_path / "bar.json", records)
    skips = SkipLog()
    assert len(load_preferences(str(path), skips=skips)) == 2
    assert skips.to_record() | {"first": None} == {
        "count": 1, "by_reason": {"missing-field": 1}, "ids": ["bar-2"], "ids_omitted": 0, "first": None
    }
    with pytest.raises(
        DataError, match=r"bar\.json record 2: missing key 'output_2' expected by format 'llmbar'.*--strict"
    ):
        load_preferences(str(path), strict=True)


def test_wrong_kind_of_data_for_the_loader(tmp_path):
    kto = write_json(tmp_path / "kto.json", [{"messages": [user("a"), assistant("b")], "label": True}])
    alpaca = write_json(tmp_path / "alpaca.json", [{"instruction": "a", "input": "", "output": "b"}])
    pairs = write_json(tmp_path / "pairs.json", LLMBAR)
    with pytest.raises(
        DataError, match=r"kto\.json: looks like unpaired/KTO data.*evaluation needs preference pairs"
    ):
        load_preferences(str(kto))
    with pytest.raises(
        DataError, match=r"alpaca\.json: looks like SFT data.*evaluation needs preference pairs"
    ):
        load_preferences(str(alpaca))
    with pytest.raises(DataError, match=r"pairs\.json: looks like preference pairs.*load_preferences"):
        load_sft(str(pairs))


def test_split_on_a_local_file(tmp_path):
    with pytest.raises(DataError, match=r"bar\.json: a split applies to hub datasets only"):
        load_preferences(str(write_json(tmp_path / "bar.json", LLMBAR)), split="test")


def test_non_positive_limit(tmp_path):
    with pytest.raises(DataError, match="limit must be a positive number"):
        load_preferences(str(write_json(tmp_path / "bar.json", LLMBAR)), limit=0)


# --------------------------------------------------------------------------------------
# The real files in ../shared/data
# --------------------------------------------------------------------------------------


def shared(relative: str) -> str:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the project on CI)")
    return str(SHARED_DATA / relative)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("natural", 100),
        ("adversarial_neighbor", 134),
        ("adversarial_gptinst", 92),
        ("adversarial_gptout", 47),
        ("adversarial_manual", 46),
    ],
)
def test_real_llmbar(name, count):
    examples = load_preferences(shared(f"llmbar/{name}.json"))
    assert len(examples) == count
    assert {example.subset for example in examples} == {name}
    assert all(len(example.chosen) == len(example.rejected) == 1 for example in examples)


@pytest.mark.integration
def test_real_rm_bench():
    examples = load_preferences(shared("rm-bench"))
    by_subset = {
        subset: [example for example in examples if example.subset == subset] for subset in ("chat", "code")
    }
    assert {subset: len(group) for subset, group in by_subset.items()} == {"chat": 129, "code": 228}
    assert len(examples) == 129 + 228
    assert all(len(example.chosen) == len(example.rejected) == 3 for example in examples)
    assert {example.meta["source_subset"] for example in by_subset["code"]} == {"bigcode/humanevalpack"}


@pytest.mark.integration
def test_real_llamafactory_files_load_with_their_own_loader():
    pairs = load_preferences(shared("llamafactory/dpo_en_demo.json"))
    unpaired = load_unpaired(shared("llamafactory/kto_en_demo.json"))
    sft = load_sft(shared("llamafactory/alpaca_en_demo.json"))
    assert len(pairs) == 300 and all(example.prompt[-1]["role"] == "user" for example in pairs)
    assert len(unpaired) == 300 and sum(example.label for example in unpaired) == 150
    assert len(sft) == 999


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "looks_like"),
    [("kto_en_demo.json", "unpaired/KTO data"), ("alpaca_en_demo.json", "SFT data")],
)
def test_real_training_files_are_refused_for_evaluation(name, looks_like):
    with pytest.raises(
        DataError, match=rf"{name}: looks like {looks_like}.*evaluation needs preference pairs"
    ):
        load_preferences(shared(f"llamafactory/{name}"))
