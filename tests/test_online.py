"""Online methods (RLOO, GRPO) raise a reward; distillation (kd, seqkd, gkd) brings a student
closer to its teacher. Tiny models over a word-level vocabulary of two dozen tokens, so a
reward as plain as "how often the completion says fox" is seen often enough to learn from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.errors import DataError
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
TARGET = "fox"
WORDS = ["fox", "dog", "cat", "sea", "sun", "red", "blue", "tree", "say", "a", "word", "please", "the", "one", "two",
         "three"]
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def count_fox(prompts: list[str], completions: list[str]) -> list[float]:
    """The reward the tests train on; importable as tests.test_online:count_fox."""
    return [float(c.split().count(TARGET)) for c in completions]


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate([*specials, "<unk>", "user", "assistant", "system", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                        pad_token="<|im_end|>", unk_token="<unk>")
    tokenizer.chat_template = CHAT
    return tokenizer


def save_word_lm(folder: Path, seed: int = 0, sharpness: float = 1.0) -> Path:
    """A tiny random Llama over the word vocabulary; sharpness > 1 makes a confident teacher."""
    from transformers import LlamaForCausalLM

    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny.llama_config(len(tokenizer)))
    with torch.no_grad():
        model.lm_head.weight.mul_(sharpness)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def prompts(tmp_path):
    rows = [{"instruction": f"please say a word {WORDS[i % len(WORDS)]}", "input": "",
             "output": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4))} for i in range(24)]
    return write_jsonl(tmp_path / "prompts.jsonl", rows)


def train(*args):
    return runner.invoke(app, ["train", *args])


def history(run: Path) -> list[dict]:
    states = sorted(run.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    return json.loads(states[-1].read_text())["log_history"]


def rewards(run: Path) -> list[float]:
    return [h["reward"] for h in history(run) if "reward" in h]


ONLINE = ["--set", "num_generations=4", "--set", "per_device_train_batch_size=8", "--set", "max_completion_length=8",
          "--set", "logging_steps=1", "--set", "temperature=1.0"]


@pytest.mark.parametrize("method, reward", [("rloo", "file"), ("grpo", "module")])
def test_online_methods_raise_a_python_reward(method, reward, prompts, tmp_path):
    if reward == "file":
        source = tmp_path / "my_reward.py"
        source.write_text(f"def count_fox(prompts, completions):\n"
                          f"    return [c.split().count({TARGET!r}) for c in completions]\n")
        spec = f"{source}:count_fox"
    else:
        spec = "tests.test_online:count_fox"
    start = save_word_lm(tmp_path / "start")
    run = tmp_path / "run"
    steps = 16
    result = train(method, "--model", str(start), "--data", str(prompts), "--out", str(run), *ONLINE,
                   "--set", f"reward_fn={spec}", "--set", f"max_steps={steps}", "--set", f"save_steps={steps}",
                   "--set", "learning_rate=2e-2")
    assert result.exit_code == 0, result.output
    seen = rewards(run)
    assert len(seen) == steps
    first, last = sum(seen[:4]) / 4, sum(seen[-4:]) / 4
    print(f"{method}: mean reward first 4 steps {first:.2f}, last 4 steps {last:.2f}", [round(r, 2) for r in seen])
    assert last > first + 1.5, seen
    meta = json.loads((run / "final" / "rmbench.json").read_text())
    assert meta["method"] == method and meta["rewards"] == [{"reward_fn": spec}]
    assert meta["method_settings"]["num_generations"] == 4
    assert json.loads((run / f"checkpoint-{steps}" / "rmbench.json").read_text())["step"] == steps
    assert (run / "heldout-prompts.jsonl").is_file()
    final = json.loads((run / "evals" / "final" / "policy" / "results.json").read_text())
    assert final["score"] is None and final["overall"]["kl"] is not None  # a reward_fn is no judge: KL, ROUGE only


def test_reward_model_checkpoint_as_the_reward(prompts, tmp_path):
    """An rmbench RM with another tokenizer than the policy's: it reads the conversation with its own."""
    from rmbench.scoring.base import Item
    from rmbench.scoring.classifier import ClassifierScorer
    from rmbench.trainers.rewards import model_reward

    rm = tiny.save_classifier(tmp_path / "rm")
    start = save_word_lm(tmp_path / "start")
    run = tmp_path / "run"
    result = train("grpo", "--model", str(start), "--data", str(prompts), "--out", str(run), *ONLINE,
                   "--set", f"reward_model={rm}", "--set", "max_steps=2", "--set", "save_steps=2")
    assert result.exit_code == 0, result.output
    logged = [h for h in history(run) if "reward" in h]
    assert len(logged) == 2 and all(h["reward_std"] > 0 for h in logged), logged
    assert json.loads((run / "final" / "rmbench.json").read_text())["rewards"] == [{"reward_model": str(rm)}]

    prompt = [{"role": "user", "content": "say a word"}]
    reward = model_reward(str(rm))([prompt, prompt], [[{"role": "assistant", "content": "fox fox"}], "the sea"])
    scorer = ClassifierScorer(str(rm))
    expected = {}
    for batch in scorer.score([Item(prompt, "fox fox"), Item(prompt, "the sea")]):
        expected.update(zip(batch.indices, batch.scores))
    assert reward == pytest.approx([expected[0], expected[1]], abs=1e-5)


def test_reward_mistakes_are_one_clear_error(prompts, tmp_path):
    start = save_word_lm(tmp_path / "start")
    common = ["--model", str(start), "--data", str(prompts), "--out", str(tmp_path / "run")]
    missing = train("rloo", *common)
    assert missing.exit_code == 2 and "reward_fn=module:function" in missing.output, missing.output
    typo = train("rloo", *common, "--set", "reward_fn=tests.test_online:count_cat")
    assert typo.exit_code == 2 and "no function 'count_cat'" in typo.output, typo.output
    policy = train("grpo", *common, "--set", f"reward_model={start}")
    assert policy.exit_code == 2 and "not a reward model" in policy.output, policy.output
    batch = train("grpo", *common, "--set", "reward_fn=tests.test_online:count_fox", "--set", "num_generations=4",
                  "--set", "per_device_train_batch_size=6")
    assert batch.exit_code == 2 and "num_generations" in batch.output, batch.output
    assert "Traceback" not in missing.output + typo.output + policy.output + batch.output


# --- distillation ------------------------------------------------------------------------------------

def heldout_kl(student: Path, teacher: Path, heldout: Path) -> float:
    """Mean token-level KL(teacher || student) along the teacher's greedy completions of held-out prompts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    models = [AutoModelForCausalLM.from_pretrained(p).eval() for p in (teacher, student)]
    total, count = 0.0, 0
    with torch.no_grad():
        for line in heldout.read_text().splitlines():
            prompt = json.loads(line)["prompt"]
            ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)["input_ids"]
            full = models[0].generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False,
                                      pad_token_id=tokenizer.pad_token_id)
            teacher_logp, student_logp = (m(full).logits[0, ids.shape[1] - 1:-1].log_softmax(-1) for m in models)
            total += (teacher_logp.exp() * (teacher_logp - student_logp)).sum().item()
            count += full.shape[1] - ids.shape[1]
    return total / count


@pytest.mark.parametrize("method", ["kd", "seqkd", "gkd"])
def test_distillation_brings_the_student_closer_to_the_teacher(method, prompts, tmp_path):
    teacher = save_word_lm(tmp_path / "teacher", seed=1, sharpness=20.0)
    student = save_word_lm(tmp_path / "student", seed=0)
    run = tmp_path / "run"
    result = train(method, "--model", str(student), "--data", str(prompts), "--out", str(run),
                   "--set", f"teacher={teacher}", "--set", "max_steps=12", "--set", "save_steps=12",
                   "--set", "learning_rate=1e-2", "--set", "per_device_train_batch_size=4",
                   "--set", "max_new_tokens=8", "--set", "logging_steps=1", "--set", "heldout_fraction=0.25")
    assert result.exit_code == 0, result.output
    heldout = run / "heldout-prompts.jsonl"
    assert len(heldout.read_text().splitlines()) >= 3
    before, after = heldout_kl(student, teacher, heldout), heldout_kl(run / "final", teacher, heldout)
    print(f"{method}: held-out KL(teacher || student) {before:.3f} -> {after:.3f}")
    assert after < 0.7 * before
    meta = json.loads((run / "final" / "rmbench.json").read_text())
    assert meta["method"] == method and meta["teacher"] == str(teacher)
    assert meta["method_settings"]["seq_kd"] == (method == "seqkd")
    assert (meta["method_settings"]["lmbda"] > 0) == (method == "gkd")


def test_teacher_with_another_tokenizer_is_one_clear_error(prompts, tmp_path):
    teacher = tiny.save_causal_lm(tmp_path / "teacher")  # byte-level BPE vocabulary, not the word one
    student = save_word_lm(tmp_path / "student")
    result = train("kd", "--model", str(student), "--data", str(prompts), "--out", str(tmp_path / "run"),
                   "--set", f"teacher={teacher}")
    assert result.exit_code == 2, result.output
    assert "must share a tokenizer" in result.output and "Traceback" not in result.output
    missing = train("gkd", "--model", str(student), "--data", str(prompts), "--out", str(tmp_path / "run2"))
    assert missing.exit_code == 2 and "teacher=CHECKPOINT" in missing.output


def test_fixed_settings_of_a_method_cannot_be_overridden(prompts, tmp_path):
    student = save_word_lm(tmp_path / "student")
    result = train("kd", "--model", str(student), "--data", str(prompts), "--out", str(tmp_path / "run"),
                   "--set", f"teacher={student}", "--set", "lmbda=0.5")
    assert result.exit_code == 2 and "kd fixes lmbda" in result.output, result.output


def test_prompts_come_from_pairs_sft_or_unpaired_data(tmp_path):
    from rmbench.trainers import data

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "say fox", "chosen": "fox", "rejected": "dog"},
                                                   {"prompt": "say fox", "chosen": "fox fox", "rejected": "cat"},
                                                   {"prompt": "say sea", "chosen": "sea", "rejected": "sun"}])
    unpaired = write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "say red", "completion": "blue", "label": False}])
    sft = write_jsonl(tmp_path / "sft.jsonl", [{"instruction": "say tree", "output": "tree"}])
    examples = data.load_prompted("prompts", [str(pairs), str(unpaired), str(sft)], None, None)
    assert [row["prompt"][-1]["content"] for row in data.prompt_rows(examples)] == [
        "say fox", "say sea", "say red", "say tree"]
    assert [row["messages"][-1]["content"] for row in data.distill_rows(examples)] == [
        "fox", "fox fox", "sea", "blue", "tree"]
    broken = write_jsonl(tmp_path / "broken.jsonl", [{"prompt": "say fox", "chosen": "fox"}])
    with pytest.raises(DataError, match="broken.jsonl"):
        data.load_prompted("prompts", [str(broken)], None, None)
