"""The `rmbench` command: parse flags, call the library, render with rich. Nothing else.

User mistakes arrive as RmbenchError and leave as one red line and exit code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rmbench import __version__
from rmbench.errors import RmbenchError
from rmbench.evals.display import percent, render_record
from rmbench.options import ModelOptions, ScorerOptions
from rmbench.scoring.distributed import MainProcessFailed, is_main
from rmbench.terminal import console, errors

app = typer.Typer(help="Evaluate, train and rank reward models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def user_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MainProcessFailed:  # under `accelerate launch`: the main process printed why
            raise typer.Exit(2) from None
        except RmbenchError as err:
            _error_line(str(err))
            raise typer.Exit(2) from None
        except OSError as err:
            if err.filename is None:  # not about a file the user named: a bug, keep its traceback
                raise
            where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
            _error_line(f"{where}: {err.strerror or err}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            if os.environ.get("RANK", "0") == "0":  # Ctrl-C reaches every process of a launch: say it once
                errors.print("[yellow]interrupted[/]: finished batches are cached; rerun the same command to resume")
            raise typer.Exit(130) from None
    return wrapper


def _error_line(message: str) -> None:
    """One red line; the message is plain text (a subset named `[v2]` prints as `[v2]`)."""
    errors.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


@app.command("eval")
@user_errors
def eval_command(
    reward: Annotated[str | None, typer.Option(
        help="Reward model: a folder, a .gguf file, a hub id, or baseline:random|length|bow")] = None,
    suite: Annotated[str | None, typer.Option(help="Suite name (see `rmbench suites`) or manifest .yaml")] = None,
    data: Annotated[list[str] | None, typer.Option(help="Preference data: file, folder or hub id (repeatable)")] = None,
    data_root: Annotated[str | None, typer.Option(help="Folder holding a suite's files (offline copies)")] = None,
    subsets: Annotated[str | None, typer.Option(help="Comma-separated subsets to keep")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Force the data format, not detect it")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a hub dataset")] = None,
    limit: Annotated[int | None, typer.Option(help="First N examples of each source (quick checks)")] = None,
    out: Annotated[Path | None, typer.Option(help="Write results.json and scores.jsonl here")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace the record of another model or suite in --out (the same run always resumes)")] = False,
    seed: Annotated[int, typer.Option(help="Seed for random baselines, untrained heads and bootstraps")] = 0,
    baseline_train: Annotated[str | None, typer.Option(help="Training preferences for baseline:bow")] = None,
    chat_template: Annotated[str | None, typer.Option(help="'raw' for plain text, or a .jinja file")] = None,
    max_length: Annotated[int | None, typer.Option(help="Token limit; longer inputs are cut and counted")] = None,
    batch_tokens: Annotated[int | None, typer.Option(help="Padded tokens per batch")] = None,
    dtype: Annotated[str, typer.Option(help="auto, bf16, fp16 or fp32")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    allow_random_head: Annotated[bool, typer.Option(help="Score with an untrained reward head")] = False,
    ref: Annotated[str | None, typer.Option(
        help="Reference model for an implicit (DPO) reward; 'none' for reference-free")] = None,
    beta: Annotated[float | None, typer.Option(help="Implicit reward scale (default: checkpoint's, else 1)")] = None,
    length_normalize: Annotated[bool | None, typer.Option(
        "--length-normalize/--no-length-normalize", help="Average log-prob per token (SimPO style)")] = None,
    judge: Annotated[str | None, typer.Option(
        help="LLM judge instead of --reward: a folder, .gguf, hub id, or openai:MODEL")] = None,
    judge_url: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible API (…/v1)")] = None,
    judge_mode: Annotated[str, typer.Option(help="pairwise (both orders) or rating (1-10 per answer)")] = "pairwise",
    judge_template: Annotated[str | None, typer.Option(help="Your own judging prompt template file")] = None,
    trust_remote_code: Annotated[bool, typer.Option(help="Run model code from the checkpoint")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    strict: Annotated[bool, typer.Option(
        help="Make any record that would be skipped (and counted) an error naming it")] = False,
    policy: Annotated[str | None, typer.Option(
        help="Evaluate a policy (causal LM) by its completions on the --data prompts, instead of --reward")] = None,
    judge_rm: Annotated[str | None, typer.Option(
        help="With --policy: the scorer that judges completions (as --reward takes it)")] = None,
    baseline_policy: Annotated[str | None, typer.Option(
        help="With --policy: a policy to win against on the same prompts (e.g. the SFT start)")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="With --policy: completion budget [default: 256]")] = None,
    temperature: Annotated[float | None, typer.Option(
        help="With --policy: sampling temperature, 0 = greedy [default: 1.0]")] = None,
    top_p: Annotated[float | None, typer.Option(help="With --policy: nucleus sampling mass [default: 1.0]")] = None,
    engine: Annotated[str | None, typer.Option(
        help="Server kind when --reward is an http(s) url: vllm or sglang")] = None,
    tokenizer: Annotated[str | None, typer.Option(
        help="Reward server: tokenizer (folder or hub id) to format texts with [default: the served model's name]")]
    = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight per server [default: 4]")] = None,
    compile: Annotated[bool, typer.Option(
        help="torch.compile a classifier reward model: a minute or more to start on CPU, ~20% faster after")]
    = False,
    policy_url: Annotated[list[str] | None, typer.Option(
        help="With --policy openai:MODEL: an OpenAI-compatible server (repeatable, or comma-separated)")] = None,
):
    """Score a reward model on a suite or on preference data, or a policy (--policy) by its completions."""
    from rmbench.evals.run import EvalRequest, run_eval

    show_progress = progress and sys.stdout.isatty()
    policy_only = {"--judge-rm": judge_rm, "--baseline-policy": baseline_policy, "--max-new-tokens": max_new_tokens,
                   "--temperature": temperature, "--top-p": top_p, "--policy-url": policy_url}
    model_options = ModelOptions(dtype=dtype, device=device, chat_template=chat_template, max_length=max_length,
                                 batch_tokens=batch_tokens, trust_remote_code=trust_remote_code, engine=engine,
                                 tokenizer=tokenizer, concurrency=concurrency, compile=compile or None)
    scorer_options = ScorerOptions(ref=ref, beta=beta, length_normalize=length_normalize,
                                   allow_random_head=allow_random_head, judge_url=judge_url, judge_mode=judge_mode,
                                   judge_template=judge_template)
    if policy is not None:
        from rmbench.evals.display import policy_table
        from rmbench.evals.policy import PolicyEvalRequest, run_policy_eval

        not_for_policy = {"--reward": reward, "--suite": suite, "--data-root": data_root, "--subsets": subsets,
                          "--beta": beta, "--length-normalize": length_normalize, "--compile": compile or None}
        given = [flag for flag, value in not_for_policy.items() if value is not None]
        if given:
            raise RmbenchError(f"{given[0]} does not apply to --policy: a policy is evaluated on prompts (--data) "
                               "by a judge (--judge-rm SCORER or --judge LLM)")
        _check_policy_flags(seed=seed, limit=limit, max_new_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p, judge_mode=judge_mode, concurrency=concurrency,
                            options=model_options)
        _quiet_libraries(show_progress)
        record, _ = run_policy_eval(PolicyEvalRequest(
            policy=policy, data=data or [], judge_rm=judge_rm, judge=judge, baseline_policy=baseline_policy, ref=ref,
            max_new_tokens=256 if max_new_tokens is None else max_new_tokens,
            temperature=1.0 if temperature is None else temperature, top_p=1.0 if top_p is None else top_p,
            seed=seed, limit=limit, format=format, split=split, out=out, overwrite=overwrite, strict=strict,
            policy_options=replace(model_options, engine=None, tokenizer=None),
            policy_urls=policy_url or [],
            # a judge loaded here gets the same dtype, device, batch and length limits as the policy; a
            # served openai: judge none of them (they are the policy's), and --concurrency is the policy servers'
            judge_options=(ModelOptions(engine=engine, tokenizer=tokenizer) if (judge or "").startswith("openai:")
                           else replace(model_options, chat_template=None, concurrency=None)),
            judge_scoring=replace(scorer_options, ref=None), baseline_train=baseline_train,
            show_progress=show_progress))
        if not is_main():  # under `accelerate launch` the main process alone reports
            return
        for table in policy_table(record):
            console.print(table)
        if out:
            console.print(f"wrote {escape(str(out / 'results.json'))} and {escape(str(out / 'scores.jsonl'))}",
                          highlight=False)
        return
    given = [flag for flag, value in policy_only.items() if value is not None]
    if given:
        raise RmbenchError(f"{given[0]} applies to policy evaluation: add --policy CHECKPOINT")
    _quiet_libraries(show_progress)
    request = EvalRequest(
        reward=reward, suite=suite, data=data or [], data_root=data_root,
        subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else None,
        format=format, split=split, limit=limit, out=out, overwrite=overwrite, seed=seed,
        baseline_train=baseline_train, judge=judge,
        scorer_options=scorer_options, model_options=model_options,
        show_progress=show_progress, strict=strict)
    if suite == "battery":  # every standard suite whose data is reachable, one model load, one score cache
        from rmbench.battery import battery_table, run_battery

        console.print(battery_table(run_battery(request)))
        console.print(f"wrote {escape(str(out))}/SUITE/results.json per suite and {escape(str(out))}/battery.json",
                      highlight=False)
        return
    record, _ = run_eval(request)
    if not is_main():  # under `accelerate launch` the main process alone reports
        return
    render_record(record)
    if out:
        console.print(f"wrote {escape(str(out / 'results.json'))} and {escape(str(out / 'scores.jsonl'))}",
                      highlight=False)


def _check_policy_flags(*, seed, limit, max_new_tokens, temperature, top_p, judge_mode, options,
                        concurrency=None) -> None:
    """--policy flags, checked before any model loads (the reward path checks in run_eval)."""
    from rmbench import validate

    validate.seed("--seed", seed)
    validate.integer("--limit", limit, low=1, optional=True)
    validate.integer("--max-new-tokens", max_new_tokens, low=1, high=validate.MAX_LENGTH_MAX, optional=True)
    validate.number("--temperature", temperature, low=0, optional=True)
    validate.number("--top-p", top_p, low=0, high=1, low_open=True, optional=True)
    validate.choice("--judge-mode", judge_mode, validate.JUDGE_MODES)
    validate.integer("--concurrency", concurrency, low=1, high=1024, optional=True)
    validate.model_options(options)


@app.command("train")
@user_errors
def train_command(
    method: Annotated[str, typer.Argument(help="rm, sft, dpo, ipo, robust, hinge, rpo, simpo, cpo, orpo, kto, ppo, "
                                                "rloo, grpo, kd, seqkd or gkd")],
    model: Annotated[str, typer.Option(help="Starting model: a folder, a .gguf file or a hub id")],
    data: Annotated[list[str], typer.Option(help="Training data: file, folder or hub id (repeatable)")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, evals, leaderboard.json")],
    recipe: Annotated[str | None, typer.Option(help="Recipe YAML (default: trainers/METHOD.yaml)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key: KEY=VALUE")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Force the data format")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the run in --out")] = False,
    seed: Annotated[int, typer.Option(help="Seed for data split, initialisation and training")] = 42,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    strict: Annotated[bool, typer.Option(
        help="Make any training record that would be skipped (and counted) an error naming it")] = False,
):
    """Train with METHOD, score every checkpoint, rank the run against baselines."""
    from rmbench.trainers.recipes import parse_overrides
    from rmbench.trainers.run import TrainRequest, train

    show_progress = progress and sys.stdout.isatty()
    _quiet_libraries(show_progress)
    train(TrainRequest(method=method, model=model, data=data, out=out, recipe=recipe,
                       overrides=parse_overrides(set_ or []), format=format, resume=resume, overwrite=overwrite,
                       seed=seed, show_progress=show_progress, strict=strict))


@app.command("quickstart")
@user_errors
def quickstart_command(
    out: Annotated[Path, typer.Option(help="Folder for the data, the trained model, the records and the page")]
    = Path("rmbench-quickstart"),
    n_train: Annotated[int, typer.Option(help="Generated training pairs")] = 1200,
    seed: Annotated[int, typer.Option(help="Seed of the generated data, the training and the bootstrap")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace what --out holds")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
):
    """Train a small reward model on generated probes, rank it against baselines (offline, CPU, minutes)."""
    from rmbench import validate
    from rmbench.quickstart import run_quickstart

    validate.integer("--n-train", n_train, low=1, high=validate.GENERATE_MAX)
    validate.seed("--seed", seed)
    if out.exists() and not out.is_dir():
        raise RmbenchError(f"--out {out} is a file, not a folder")
    show_progress = progress and sys.stdout.isatty()
    _quiet_libraries(show_progress)
    run_quickstart(out, n_train=n_train, seed=seed, overwrite=overwrite, show_progress=show_progress)


@app.command("pipeline")
@user_errors
def pipeline_command(
    file: Annotated[Path, typer.Argument(help="Pipeline YAML: named stages (generate, tiny, train, eval)")],
    out: Annotated[Path | None, typer.Option(help="Folder for every stage's output [default: runs/NAME]")] = None,
    redo: Annotated[list[str] | None, typer.Option(help="Run this stage again even if complete (repeatable)")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
):
    """Run a train-then-eval graph; finished stages are skipped; ends with the leaderboards."""
    from rmbench.pipeline import load_pipeline, run_pipeline

    show_progress = progress and sys.stdout.isatty()
    _quiet_libraries(show_progress)
    pipeline = load_pipeline(file)
    run_pipeline(pipeline, out or Path("runs") / pipeline.name, redo=redo, show_progress=show_progress)


@app.command("import")
@user_errors
def import_command(
    format: Annotated[str, typer.Argument(help="judgebench | rewardbench | scores")],
    file: Annotated[Path, typer.Argument(help="The per-example output file to import")],
    suite: Annotated[str, typer.Option(help="The suite the outputs were computed on (its data is matched by id)")],
    out: Annotated[Path, typer.Option(help="Folder for results.json + scores.jsonl")],
    data_root: Annotated[str | None, typer.Option(help="Folder holding the suite's files (offline copies)")] = None,
    model: Annotated[str | None, typer.Option(help="Name on boards (default: the file name)")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a record already in --out")] = False,
):
    """Turn published per-example outputs into an rmbench record that `rmbench leaderboard` ranks."""
    from rmbench.importers import import_outputs

    if (out / "results.json").exists() and not overwrite:
        raise RmbenchError(f"{out} already holds a record (results.json); pass --overwrite or another --out")
    record = import_outputs(format, str(file), suite, out, data_root=data_root, model=model)
    console.print(f"{escape(record['model']['name'])}: {record['label']} score {percent(record['score'])} "
                  f"(n={sum(s['n'] for s in record['subsets'].values())}); wrote {escape(str(out / 'results.json'))} "
                  "and scores.jsonl", highlight=False)


@app.command("suites")
@user_errors
def suites_command():
    """List the suites rmbench knows by name."""
    from rmbench.evals.suites import available_suites, load_suite

    table = Table("suite", "version", "score rule", "description")
    for name in available_suites():
        s = load_suite(name)
        table.add_row(name, s.version, s.score, s.description)
    console.print(table)


@app.command("version")
def version_command():
    """Print the rmbench version."""
    console.print(__version__)


@app.command("leaderboard")
@user_errors
def leaderboard_command(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH",
        help="Results records: results.json files, or folders searched recursively (eval outputs, training runs)")],
    suite: Annotated[str | None, typer.Option(help="Rank only the records of this suite")] = None,
    format: Annotated[str | None, typer.Option(
        "--format", help="rich, md, csv, json or html (default: from --out's suffix, else rich)")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the leaderboard to this file instead of the terminal")] = None,
    detail: Annotated[bool, typer.Option(help="Add a column per subset, paired tests with Holm correction, "
                                              "kappa, all-wrong examples, length bias and calibration")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of prompts")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap")] = 0,
    split_versions: Annotated[bool, typer.Option(
        help="Rank each data version of a suite on its own board instead of refusing to mix them")] = False,
):
    """Rank models, checkpoints and baselines per suite, with bootstrap intervals."""
    from rmbench.leaderboard import build_boards, refuse_overwriting_inputs
    from rmbench.leaderboard import render as lb_render

    suffixes = {".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}
    chosen = format or (suffixes.get(out.suffix.lower(), "rich") if out else "rich")
    if chosen not in lb_render.FORMATS:
        raise RmbenchError(f"--format {chosen!r} is not one of {', '.join(lb_render.FORMATS)}")
    from rmbench import validate
    from rmbench.results import RESULTS_FILE, SCORES_FILE, atomic_write

    validate.integer("--resamples", resamples, high=validate.RESAMPLES_MAX)  # the floor is the bootstrap's
    validate.seed("--seed", seed)
    if out is not None:
        refuse_overwriting_inputs(out, paths)
        if out.name in (RESULTS_FILE, SCORES_FILE):  # the next leaderboard would read the board as a record
            raise RmbenchError(f"--out {out}: {out.name} is the name of an eval record's file; name the board "
                               "e.g. board.md or board.json")
    boards = build_boards(paths, suite=suite, split_versions=split_versions, resamples=resamples, seed=seed)
    if chosen == "rich":
        if out is None:
            lb_render.to_rich(boards, console, detail=detail)
            return
        import io

        buffer = io.StringIO()
        lb_render.to_rich(boards, Console(file=buffer, width=200, no_color=True, emoji=False), detail=detail)
        atomic_write(out, [buffer.getvalue()])
    else:
        if chosen == "html":
            from rmbench.leaderboard.html import to_html as render
        else:
            render = {"md": lb_render.to_markdown, "csv": lb_render.to_csv, "json": lb_render.to_json}[chosen]
        text = render(boards, detail=detail)
        if out is None:
            typer.echo(text, nl=False)
            return
        atomic_write(out, [text])
    console.print(f"wrote {escape(str(out))} ({len(boards)} board{'s' if len(boards) != 1 else ''})",
                  highlight=False)


@app.command("report")
@user_errors
def report_command(
    path: Annotated[Path, typer.Argument(metavar="RECORD_OR_RUN_DIR",
        help="A results.json, an eval folder, or a training run (every record under it)")],
    out: Annotated[Path, typer.Option(help="The HTML page; the Markdown summary goes beside it (.md)")]
    = Path("report.html"),
    texts: Annotated[bool, typer.Option(help="Read the record's data again (hash-checked) to show prompts and "
                                             "answers of the worst mistakes, and lengths for old records")] = False,
    data_root: Annotated[str | None, typer.Option(help="With --texts: where the suite's files are now")] = None,
):
    """Length bias, calibration, reward histograms, style matrix and worst mistakes: one offline page."""
    from rmbench.report import write_report

    page, md = write_report(path, out, texts=texts, data_root=data_root)
    console.print(f"wrote {escape(str(page))} and {escape(str(md))}", highlight=False)


data_app = typer.Typer(help="Generate preference data: the built-in probe suite, for use elsewhere.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("generate")
@user_errors
def data_generate_command(
    out: Annotated[Path, typer.Option(help="Write the pairs here: .jsonl in TRL preference format")],
    suite: Annotated[str, typer.Option(help="Generated suite to draw from")] = "probes",
    n: Annotated[int, typer.Option("--n", help="Number of pairs, spread evenly over the subsets")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same pairs; a new seed draws fresh ones")] = 0,
    split: Annotated[str, typer.Option(help="train or test: their problems never overlap, whatever the seeds")]
    = "train",
):
    """Draw verifiable preference pairs and write them as TRL preference data."""
    from collections import Counter

    from rmbench.probes import VERSION
    from rmbench.probes.export import export

    examples = export(suite, n, seed, split, out)
    counts = ", ".join(f"{name} {k}" for name, k in Counter(e.subset for e in examples).items())
    console.print(f"wrote {len(examples)} {split} pairs ({suite} v{VERSION}, seed {seed}) to {escape(str(out))}: "
                  f"{counts}", highlight=False)


def _quiet_libraries(show_progress: bool) -> None:
    """Library chatter (load reports, hub warnings) buries the one line a user needs."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if not torch.cuda.is_available():  # DeepSpeed would warn on every run that it fell back to the CPU
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import transformers

    transformers.logging.set_verbosity_error()
    if not show_progress:  # logs and pipes get no carriage-return bars
        import datasets

        transformers.logging.disable_progress_bar()
        datasets.disable_progress_bars()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
