"""`rmbench train`: data through the adapters, a TRL trainer, and every checkpoint scored.

The flow: check the method, recipe and output folder; load and split the data (a held-out
share of prompts is never trained on); load the model (full or LoRA); train with a
callback that writes rmbench.json into each checkpoint and scores it; at the end, score
the untrained start and the baselines on the same held-out set and rank them all. Policy
methods are evaluated by sampling on the held-out prompts and ranked against the start
(rmbench.trainers.policy_autoeval); PPO, rmbench's own loop, gets the same through on_save.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import torch
from accelerate import PartialState
from datasets import Dataset

from rmbench import models, runs
from rmbench.data.schema import PreferenceExample
from rmbench.data.skips import SkipLog
from rmbench.errors import RmbenchError
from rmbench.terminal import console
from rmbench.trainers import data as train_data
from rmbench.trainers.autoeval import AutoEvalCallback, rank_run
from rmbench.trainers.metadata import run_metadata
from rmbench.trainers.methods import Method, get_method, method_args, method_inputs, method_record, trl_classes
from rmbench.trainers.policy_autoeval import PolicyAutoEval, check_settings
from rmbench.trainers.ppo import PPOConfig, train_ppo
from rmbench.trainers.recipes import check_method_settings, check_value_types, load_recipe
from rmbench.trainers.request import TrainRequest
from rmbench.trainers.sampling import with_pair_length_grouping

__all__ = ["TrainRequest", "train"]

def _check_request(request: TrainRequest) -> None:
    """The seed and --out as asked (a file, not writable, a folder rmbench did not make) fail before anything loads."""
    if not 0 <= request.seed < 2**32:
        raise RmbenchError(f"--seed must be a whole number from 0 to {2**32 - 1} (numpy's range), not {request.seed}")
    if runs.is_main_process():  # under a launch, rank 0 alone: the others would see the folder it made
        runs.check_run_folder(request.out, request.method, request.model, resume=request.resume,
                              overwrite=request.overwrite)


def device_args(train: dict) -> dict:
    """TRL configs default to bf16 on; without a GPU that fails, so pick per machine."""
    defaults = {"report_to": "none", "activation_checkpointing": False}
    if not torch.cuda.is_available():
        defaults |= {"use_cpu": True, "bf16": False}
    return {**defaults, **train}


def load_models(method: Method, source: str, settings: dict, seed: int):
    """(model, reference or None, tokenizer, resolved source) for training with this method."""
    loaded = models.load_model(source, method.head, num_labels=1 if method.head == "classifier" else None, seed=seed,
                               training=True)
    model, tokenizer = loaded.model, loaded.tokenizer
    if method.name != "rm":
        models.require_chat_template(tokenizer, source, f"{method.name} trains on conversations")
    ref = None
    if method.needs_ref and not settings["lora"]:  # under LoRA the adapters off are the reference
        ref = models.load_model(loaded.resolved, "causal_lm", role="the reference", tokenizer=False).model
    if settings["lora"]:
        model = _with_lora(model, method, settings)
    return model, ref, tokenizer, loaded.resolved


def _with_lora(model, method: Method, settings: dict):
    if settings["load_in_4bit"] and not torch.cuda.is_available():
        raise RmbenchError("load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes; this machine has no GPU")
    from peft import LoraConfig, get_peft_model

    task = "SEQ_CLS" if method.head == "classifier" else "CAUSAL_LM"
    config = LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"], lora_dropout=settings["lora_dropout"],
                        task_type=task, target_modules="all-linear")
    return get_peft_model(model, config)


def train(request: TrainRequest) -> dict:
    method = get_method(request.method)
    _check_request(request)
    if method.trainer == "ppo":  # rmbench's own loop, not a TRL trainer
        return _train_ppo(request)
    config_class, trainer_class = trl_classes(method.trainer)
    if method.trainer == "reward":
        trainer_class = with_pair_length_grouping(trainer_class)
    fields = set(config_class.__dataclass_fields__) - {"output_dir"}
    if method.name == "rpo":
        fields.add("rpo_alpha")
    fields |= set(method.options)
    train_args, settings = load_recipe(method.name, request.recipe, request.overrides, fields)
    check_value_types(train_args, config_class)
    check_method_settings(settings)
    check_settings(method.name, settings)
    # Everything below is checked or loaded before the run folder is touched: a misspelled --data or a bad
    # setting must never cost the user the finished run that --overwrite would replace.
    inputs, inputs_meta = method_inputs(method, {k: train_args.pop(k) for k in method.options if k in train_args},
                                        request.model, request.seed)
    prompted = method.data in train_data.PROMPTED_KINDS  # rloo, grpo, distillation: prompts from any data
    load = train_data.load_prompted if prompted else train_data.load_for
    skips = SkipLog(strict=request.strict)  # --strict: the first record that would be skipped stops here
    examples = load(method.data, request.data, request.format, settings["max_examples"], skips)
    train_data.report_skips(skips)
    train_examples, heldout = train_data.split_examples(examples, settings["heldout_fraction"], request.seed)
    pairwise = isinstance(train_examples[0], PreferenceExample)
    model, ref, tokenizer, resolved = load_models(method, request.model, settings, request.seed)
    if not getattr(tokenizer, "chat_template", None):  # an encoder RM (BERT-like): plain text, as eval's raw mode
        settings["chat_template"] = "raw"
    try:
        args = config_class(output_dir=str(request.out), seed=request.seed,
                            **device_args(method_args(method, train_args)))
    except (ValueError, TypeError) as err:  # TRL's own checks (e.g. batch size not a multiple of num_generations)
        raise RmbenchError(f"{method.name} settings: {err}") from err
    rows = build_rows(method, train_examples, pairwise, settings)

    main = runs.is_main_process()  # under a launch only rank 0 writes the run folder; the others wait for it
    heldout_path = train_split = None
    if pairwise and heldout:
        heldout_path, train_split = request.out / "heldout.jsonl", request.out / "train-split.jsonl"
    too_long = fit_lengths(rows, tokenizer, args, method, settings)
    meta = run_metadata(method, request, resolved, args, settings)
    meta["chat_template"] = settings.get("chat_template")
    meta.update(method_record(method, args, inputs_meta))
    if main:
        runs.prepare_run_folder(request.out, request.method, request.model, resume=request.resume,
                                overwrite=request.overwrite)
        if heldout_path:
            train_data.write_preference_file(heldout_path, heldout)
            train_data.write_preference_file(train_split, train_examples)
        if (prompted or method.data == "sft") and heldout:  # policies: sampled from, compared with the completion
            train_data.write_prompt_file(request.out / "heldout-prompts.jsonl", heldout)
        runs.write_run(request.out, {**meta, "train_rows": len(rows), "rows_over_max_length": too_long,
                                     "heldout_examples": len(heldout), **skips.records(),
                                     "request": asdict(request)})
    if args.world_size > 1:  # (asking sets up the process group)
        runs.wait_for_everyone()
    policy_eval = None
    if method.scorer == "none":
        policy_eval = PolicyAutoEval(request.out, settings, meta, request.show_progress)
    callback = AutoEvalCallback(request.out, meta, heldout_path, settings, tokenizer, request.show_progress,
                                policy_eval)
    kwargs = {"ref_model": ref} if method.needs_ref and ref is not None else {}
    kwargs.update(inputs)
    trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                            callbacks=[callback], **kwargs)
    resume_from = runs.last_checkpoint(request.out) if request.resume else None
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final = request.out / "final"
    is_main = trainer.is_world_process_zero()
    if settings["lora"]:  # the final checkpoint is a whole model, loadable without peft
        if is_main:
            trainer.accelerator.unwrap_model(trainer.model).merge_and_unload().save_pretrained(final)
    else:
        trainer.save_model(str(final))  # every process joins (ZeRO-3 gathers weights); the main one writes
    if is_main:
        tokenizer.save_pretrained(str(final))
    callback.isolated = callback.isolated or args.world_size > 1
    callback.finish(final, trainer.state.global_step, is_main)
    if not is_main:
        return {"entries": []}
    if policy_eval is not None:
        return policy_eval.rank(isolated=callback.isolated)
    with runs.main_process_alone():  # the other processes have returned: the start and baselines are scored here
        return rank_run(request.out, meta, heldout_path, train_split, settings, request.show_progress)


def _train_ppo(request: TrainRequest) -> dict:
    """PPO evaluates its checkpoints through its on_save hook; its meta (reward, value model)
    is built inside the trainer, so the evaluator reads it from the run file when first called."""
    _, settings = load_recipe("ppo", request.recipe, request.overrides, {f.name for f in fields(PPOConfig)})
    check_method_settings(settings)
    check_settings("ppo", settings)
    policy_eval = PolicyAutoEval(request.out, settings, show_progress=request.show_progress)
    result = train_ppo(request, on_save=[policy_eval])
    if not PartialState().is_main_process:
        return result
    return {**result, **policy_eval.rank(isolated=runs.is_distributed())}


def build_rows(method: Method, examples: list, pairwise: bool, settings: dict) -> list[dict]:
    """TRL rows for the method: pairs, unpaired labels (pairs split when given pairs), SFT."""
    if settings.get("chat_template") == "raw":
        return train_data.raw_preference_rows(examples)
    if method.data == "unpaired":
        return train_data.unpaired_rows(train_data.pairs_to_unpaired(examples) if pairwise else examples)
    return {"preference": train_data.preference_rows, "sft": train_data.sft_rows, "prompts": train_data.prompt_rows,
            "distill": train_data.distill_rows}[method.data](examples)


def fit_lengths(rows: list[dict], tokenizer, args, method: Method, settings: dict) -> int:
    """Cut plain-text rows as evaluation does; count and report what TRL would drop or cut
    (every process cuts its rows; under a launch only the main one says so)."""
    max_length = getattr(args, "max_length", None)
    say = runs.is_main_process()
    if settings.get("chat_template") == "raw" and max_length:
        cut = train_data.truncate_left(rows, tokenizer, max_length)
        if cut and say:
            console.print(f"[yellow]note:[/] {cut} of {2 * len(rows)} training texts cut from the left to "
                          f"max_length={max_length}, as evaluation cuts them (TRL would drop them)")
    too_long = count_over_length(rows, tokenizer, max_length)
    if too_long and say:
        action = "drops" if method.trainer == "reward" else "truncates"
        console.print(f"[yellow]note:[/] {too_long} of {len(rows)} training rows exceed max_length="
                      f"{max_length}; TRL {action} them (raise it with --set max_length=N)")
    return too_long


def count_over_length(rows: list[dict], tokenizer, max_length: int | None) -> int:
    """Rows longer than max_length, which TRL would drop or cut without telling anyone."""
    if not max_length:
        return 0
    over = 0
    for row in rows:
        for key in ("chosen", "rejected", "completion"):
            if key in row:
                raw = isinstance(row[key], str)
                text = row[key] if raw else tokenizer.apply_chat_template(row["prompt"] + row[key], tokenize=False)
                if len(tokenizer(text, add_special_tokens=raw)["input_ids"]) > max_length:
                    over += 1
                    break
    return over
