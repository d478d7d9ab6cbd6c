"""Every method trains a few steps on a tiny model, learns, and its checkpoints score."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
GOOD = ["the capital of france is paris", "what is two plus two? four.", "here is a python function"]
BAD = ["i cannot help", "no.", "0 1 2"]


def separable_pairs(n=24):
    return [{"prompt": f"question {i}", "chosen": GOOD[i % 3], "rejected": BAD[i % 3]} for i in range(n)]


@pytest.fixture
def pairs(tmp_path):
    return write_jsonl(tmp_path / "pairs.jsonl", separable_pairs())


def train(*args):
    result = runner.invoke(app, ["train", *args])
    return result


def losses(run) -> list[float]:
    states = sorted(run.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    history = json.loads(states[-1].read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


def test_rm_trains_scores_checkpoints_and_ranks(pairs, tmp_path):
    start = tiny.save_classifier(tmp_path / "start")
    run = tmp_path / "run"
    result = train("rm", "--model", str(start), "--data", str(pairs), "--out", str(run),
                   "--set", "max_steps=12", "--set", "save_steps=6", "--set", "learning_rate=3e-3",
                   "--set", "per_device_train_batch_size=4", "--set", "logging_steps=2",
                   "--set", "heldout_fraction=0.25")
    assert result.exit_code == 0, result.output
    loss = losses(run)
    assert loss[-1] < loss[0]
    meta = json.loads((run / "checkpoint-12" / "rmbench.json").read_text())
    assert meta["method"] == "rm" and meta["step"] == 12
    assert (run / "evals" / "checkpoint-6" / "heldout" / "results.json").is_file()
    board = json.loads((run / "leaderboard.json").read_text())
    names = [e["name"] for e in board["entries"]]
    assert {"baseline:random", "baseline:length", "baseline:bow", "start (untrained)", "final"} <= set(names)
    listed = json.loads(runner.invoke(app, ["leaderboard", str(run), "--format", "json"]).stdout)["boards"]
    assert [[(e["label"], e["rank"]) for e in b["entries"]] for b in listed] == \
        [[(e["label"], e["rank"]) for e in b["entries"]] for b in board["boards"]]
    scored = runner.invoke(app, ["eval", "--reward", str(run / "final"), "--data", str(run / "heldout.jsonl")])
    assert scored.exit_code == 0, scored.output


def test_existing_run_folder_needs_resume_or_overwrite(pairs, tmp_path):
    start = tiny.save_classifier(tmp_path / "start")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".rmbench-run").write_text("{}")
    (run / "something").write_text("x")
    result = train("rm", "--model", str(start), "--data", str(pairs), "--out", str(run))
    assert result.exit_code == 2 and "--resume" in result.output and "--overwrite" in result.output
    assert (run / "something").read_text() == "x"


def test_unknown_recipe_key_names_the_closest(pairs, tmp_path):
    result = train("dpo", "--model", str(tmp_path), "--data", str(pairs), "--out", str(tmp_path / "r"),
                   "--set", "learning_rat=1e-3")
    assert result.exit_code == 2 and "learning_rate" in result.output


def test_unknown_method(pairs, tmp_path):
    result = train("ppo2", "--model", str(tmp_path), "--data", str(pairs), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "unknown method" in result.output


@pytest.mark.parametrize("method", ["dpo", "ipo", "robust", "hinge", "rpo", "simpo", "cpo", "orpo", "kto"])
def test_policy_methods_learn_and_their_checkpoints_score_without_flags(method, pairs, tmp_path):
    start = tiny.save_causal_lm(tmp_path / "start")
    run = tmp_path / "run"
    result = train(method, "--model", str(start), "--data", str(pairs), "--out", str(run), "--set", "max_steps=8",
                   "--set", "save_steps=8", "--set", "learning_rate=5e-3", "--set", "per_device_train_batch_size=4",
                   "--set", "logging_steps=1", "--set", "baselines=[random]")
    assert result.exit_code == 0, result.output
    loss = losses(run)
    assert sum(loss[-2:]) < sum(loss[:2]), loss
    meta = json.loads((run / "final" / "rmbench.json").read_text())
    assert meta["method"] == method
    scored = runner.invoke(app, ["eval", "--reward", str(run / "final"), "--data", str(run / "heldout.jsonl"),
                                 "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    model = json.loads((tmp_path / "eval" / "results.json").read_text())["model"]
    assert model["kind"] == "implicit"
    assert (model["reference"] == "none") == (method in ("simpo", "cpo", "orpo"))


def test_sft_trains_on_alpaca_style_data(tmp_path):
    rows = [{"instruction": f"say something {i}", "input": "", "output": GOOD[i % 3]} for i in range(16)]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    start = tiny.save_causal_lm(tmp_path / "start")
    run = tmp_path / "run"
    result = train("sft", "--model", str(start), "--data", str(data), "--out", str(run), "--set", "max_steps=8",
                   "--set", "save_steps=8", "--set", "learning_rate=5e-3", "--set", "logging_steps=1")
    assert result.exit_code == 0, result.output
    loss = losses(run)
    assert loss[-1] < loss[0]
    assert json.loads((run / "final" / "rmbench.json").read_text())["method"] == "sft"


def test_every_recipe_names_only_settings_its_trainer_has():
    from rmbench.trainers.methods import METHODS, config_class
    from rmbench.trainers.recipes import RECIPE_DIR, load_recipe

    for name, method in METHODS.items():
        assert (RECIPE_DIR / f"{name}.yaml").is_file(), name
        fields = set(config_class(method).__dataclass_fields__) | ({"rpo_alpha"} if name == "rpo" else set())
        train_args, settings = load_recipe(name, None, {}, fields)
        assert train_args and 0 < settings["heldout_fraction"] < 1


def test_rows_longer_than_max_length_are_counted(tmp_path):
    start = tiny.save_classifier(tmp_path / "start")
    rows = separable_pairs(8) + [{"prompt": "long " * 200, "chosen": "paris", "rejected": "no."}]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = train("rm", "--model", str(start), "--data", str(data), "--out", str(tmp_path / "run"),
                   "--set", "max_steps=1", "--set", "max_length=64", "--set", "heldout_fraction=0.1",
                   "--set", "baselines=[random]")
    assert result.exit_code == 0, result.output
    assert "exceed max_length=64" in result.output
    run = json.loads((tmp_path / "run" / "rmbench-run.json").read_text())
    assert run["rows_over_max_length"] >= 1


def test_lora_trains_adapters_and_scores_the_merged_checkpoint(pairs, tmp_path):
    start = tiny.save_causal_lm(tmp_path / "start")
    run = tmp_path / "run"
    result = train("dpo", "--model", str(start), "--data", str(pairs), "--out", str(run), "--set", "max_steps=4",
                   "--set", "save_steps=4", "--set", "learning_rate=5e-3", "--set", "lora=true",
                   "--set", "lora_r=4", "--set", "baselines=[random]")
    assert result.exit_code == 0, result.output
    assert (run / "checkpoint-4" / "adapter_config.json").is_file()
    meta = json.loads((run / "checkpoint-4" / "merged" / "rmbench.json").read_text())
    assert meta["lora"] is True and meta["reference_model"]
    assert (run / "evals" / "checkpoint-4" / "heldout" / "results.json").is_file()


def test_qlora_without_a_gpu_is_one_clear_error(pairs, tmp_path):
    start = tiny.save_causal_lm(tmp_path / "start")
    result = train("dpo", "--model", str(start), "--data", str(pairs), "--out", str(tmp_path / "run"),
                   "--set", "lora=true", "--set", "load_in_4bit=true")
    assert result.exit_code == 2 and "GPU" in result.output and "Traceback" not in result.output


def test_resume_continues_from_the_last_checkpoint(pairs, tmp_path):
    import shutil

    start = tiny.save_classifier(tmp_path / "start")
    run = tmp_path / "run"
    common = ["--model", str(start), "--data", str(pairs), "--out", str(run), "--set", "max_steps=4",
              "--set", "save_steps=2", "--set", "baselines=[random]"]
    assert train("rm", *common).exit_code == 0
    shutil.rmtree(run / "checkpoint-4")  # as if interrupted after step 2
    shutil.rmtree(run / "final")
    resumed = train("rm", *common, "--resume")
    assert resumed.exit_code == 0, resumed.output
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert "checkpoint-4 step 4" in resumed.output and "checkpoint-2 step 2" not in resumed.output  # not redone


def test_data_without_the_fields_a_method_needs(tmp_path):
    sft_only = write_jsonl(tmp_path / "sft.jsonl", [{"instruction": "say hi", "input": "", "output": "hi"}] * 4)
    start = tiny.save_causal_lm(tmp_path / "start")
    result = train("dpo", "--model", str(start), "--data", str(sft_only), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "SFT" in result.output


def test_encoder_style_rm_without_chat_template_cuts_long_texts_instead_of_dropping(tmp_path):
    start = tiny.save_classifier(tmp_path / "start", template=None)
    rows = separable_pairs(12) + [{"prompt": "long " * 100, "chosen": "paris", "rejected": "no."}] * 4
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = train("rm", "--model", str(start), "--data", str(data), "--out", str(tmp_path / "run"),
                   "--set", "max_steps=2", "--set", "max_length=48", "--set", "baselines=[random]")
    assert result.exit_code == 0, result.output
    assert "cut from the left" in result.output
    run = json.loads((tmp_path / "run" / "rmbench-run.json").read_text())
    assert run["rows_over_max_length"] == 0 and run["chat_template"] == "raw"


def test_length_grouping_cuts_reward_batch_padding(tmp_path):
    """Pairs of very different lengths: grouped batches pad far less than random ones."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from rmbench.trainers.sampling import with_pair_length_grouping

    rows = [{"chosen": "word " * (2 + 40 * (i % 2)) + "yes", "rejected": "word " * (2 + 40 * (i % 2)) + "no"}
            for i in range(128)]
    tokenizer = tiny.make_tokenizer(None)
    model = AutoModelForSequenceClassification.from_pretrained(tiny.save_classifier(tmp_path / "m"), num_labels=1)

    def padding_share(trainer_class, strategy):
        args = RewardConfig(output_dir=str(tmp_path / strategy), per_device_train_batch_size=4, use_cpu=True,
                            report_to="none", train_sampling_strategy=strategy, seed=0)
        trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer)
        masks = [batch["attention_mask"] for batch in trainer.get_train_dataloader()]
        return 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)

    grouped = padding_share(with_pair_length_grouping(RewardTrainer), "group_by_length")
    shuffled = padding_share(RewardTrainer, "random")
    assert grouped < 0.1 < shuffled


def test_set_values_parse_as_a_user_means_them():
    from rmbench.trainers.recipes import parse_overrides

    assert parse_overrides(["save_strategy=no", "learning_rate=1e-4", "lora=true", "baselines=[random, length]",
                            "warmup_steps=5"]) == {"save_strategy": "no", "learning_rate": 1e-4, "lora": True,
                                                   "baselines": ["random", "length"], "warmup_steps": 5}


def test_run_board_is_the_leaderboards_even_where_a_score_sort_disagrees(tmp_path):
    """A run's leaderboard.json ranks as `rmbench leaderboard RUN` does: on 8 pairs a higher point
    score is not a significant difference, so a point-score sort (1, 2, 3) and the paired
    bootstrap (a shared rank) disagree, and the file must follow the bootstrap."""
    from rmbench.trainers.autoeval import write_run_board

    rows = [{"prompt": f"q{i}", "chosen": "a long and careful answer" if i % 3 else "no", "rejected": "short"}
            for i in range(8)]
    heldout = write_jsonl(tmp_path / "heldout.jsonl", rows)
    run = tmp_path / "run"
    (run / "evals").mkdir(parents=True)
    (run / "rmbench-run.json").write_text(json.dumps({"method": "rm"}))
    for name in ("random", "length"):
        scored = runner.invoke(app, ["eval", "--reward", f"baseline:{name}", "--data", str(heldout), "--out",
                                     str(run / "evals" / f"baseline-{name}" / "heldout"), "--no-progress"])
        assert scored.exit_code == 0, scored.output
    board = write_run_board(run, {"method": "rm"}, "heldout")
    scores = {e["name"]: e["score"] for e in board["entries"]}
    ranks = {e["name"]: e["rank"] for e in board["entries"]}
    assert scores["baseline:length"] != scores["baseline:random"] and len(set(ranks.values())) == 1, board["entries"]

    cli = runner.invoke(app, ["leaderboard", str(run), "--format", "json"])
    assert cli.exit_code == 0, cli.output
    listed = json.loads(cli.stdout)["boards"]
    assert [[(e["label"], e["rank"]) for e in b["entries"]] for b in listed] == \
        [[(e["label"], e["rank"]) for e in b["entries"]] for b in board["boards"]]


def test_a_worker_request_carries_every_setting_and_runs_in_its_own_process(tmp_path):
    """Evaluations a distributed run hands to a process of its own travel as one serialised
    request: seed, subsets, format, baseline_train and scorer options arrive as they were."""
    from rmbench import worker
    from rmbench.evals.run import EvalRequest
    from rmbench.options import ScorerOptions

    data = write_jsonl(tmp_path / "pairs.jsonl", separable_pairs(6))
    request = EvalRequest(reward="baseline:bow", data=[str(data)], subsets=["pairs"], format="trl",
                          limit=5, out=tmp_path / "out", seed=7, baseline_train=str(data),
                          scorer_options=ScorerOptions(beta=0.3, length_normalize=True), show_progress=False)
    copy = worker.from_json(json.loads(json.dumps(worker.to_json(request))))
    assert copy == request

    assert isinstance(copy.scorer_options, ScorerOptions) and copy.scorer_options.beta == 0.3

    local = worker.run_request(EvalRequest(**{**vars(request), "out": tmp_path / "local",
                                              "scorer_options": ScorerOptions()}))
    remote = worker.run_in_subprocess(EvalRequest(**{**vars(request), "scorer_options": ScorerOptions()}))
    assert remote["score"] == local["score"] and remote["config"]["seed"] == 7


@pytest.mark.parametrize("where, key", [("model_options", "batch_token"), ("scorer_options", "betta"),
                                        ("request", "sed")])
def test_a_worker_request_with_an_unknown_key_is_refused(where, key, tmp_path):
    """Options travel typed: a misspelt key in a worker request is an error naming it, never dropped."""
    from rmbench import worker
    from rmbench.errors import RmbenchError
    from rmbench.evals.run import EvalRequest

    data = worker.to_json(EvalRequest(reward="baseline:length", data=["x.jsonl"], out=tmp_path / "out"))
    target = data["request"] if where == "request" else data["request"][where]
    target[key] = 1
    with pytest.raises(RmbenchError, match=repr(key)):
        worker.from_json(data)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\udcff"])
def test_a_damaged_run_file_is_one_line_when_the_run_is_ranked(content, tmp_path):
    """`rmbench leaderboard RUN` reads RUN/rmbench-run.json through rmbench.runs: a file that is not
    a JSON object is one clear line, never a traceback."""
    heldout = write_jsonl(tmp_path / "heldout.jsonl", separable_pairs(4))
    run = tmp_path / "run"
    scored = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(heldout), "--out",
                                 str(run / "evals" / "baseline-length" / "heldout"), "--no-progress"])
    assert scored.exit_code == 0, scored.output
    (run / "rmbench-run.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    result = runner.invoke(app, ["leaderboard", str(run)])
    assert result.exit_code == 2 and "rmbench-run.json" in result.output and "damaged" in result.output
    assert "Traceback" not in result.output
