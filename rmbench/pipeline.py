"""`rmbench pipeline FILE.yaml`: a declared train-then-eval graph, run stage by stage.

A pipeline is a list of named stages; a stage may name any earlier stage where it needs a
model or data (`model: sft`, `reward_model: rm`), which makes the list a graph whose order
is also a valid run order, and keeps the file readable top to bottom. Every stage writes
into OUT/<stage>/ and knows when that output is complete, so rerunning a pipeline skips
finished stages, resumes an interrupted training run from its last checkpoint, and redoes
only what is missing (and, with --redo, what was built from a redone stage). The run ends
with the leaderboards of everything under OUT.

Stage kinds (exactly one per stage):
- `generate: {suite: probes, n, seed, split}`: a generated preference file.
- `tiny: {tokenizer, layers, hidden_size}`: a small random causal LM with a real tokenizer
  (for smoke runs of the whole graph on a CPU).
- `train: METHOD` with `model`, `data`, `set`, `recipe`, `strict`: an `rmbench train` run.
- `eval: {reward | policy, suite | data, strict, ...}`: one more results record.
`strict: true` is `--strict` (a record the loader would skip is an error): on a train stage
beside `model`, in an eval stage's mapping beside `data`, where each kind takes its options.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml
from rich.markup import escape

from rmbench import validate
from rmbench.errors import RmbenchError
from rmbench.results import make_out_folder
from rmbench.terminal import console

KINDS = ("generate", "tiny", "train", "eval")
STAGE_KEYS = {"name", *KINDS, "model", "data", "set", "recipe", "format", "seed", "strict"}
MODEL_SETTINGS = ("reward_model", "teacher", "ref_model", "eval_judge")  # `set` keys that may name a stage
DONE_FILE = ".pipeline-done"  # written after a train stage returns: its run, evals and ranking are all there


class PipelineError(RmbenchError):
    pass


@dataclass
class Stage:
    name: str
    kind: str
    spec: object  # the value of the kind key: METHOD for train, a mapping otherwise
    model: str | None = None
    data: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    recipe: str | None = None
    format: str | None = None
    seed: int = 42
    strict: bool = False  # train stages: `rmbench train --strict`


@dataclass
class Pipeline:
    name: str
    source: Path
    stages: list[Stage]
    leaderboard: dict = field(default_factory=dict)


def load_pipeline(path: str | Path) -> Pipeline:
    """Parse and check the whole file (every key's type and range, every stage name) before
    anything runs: a mistake in the last stage must not surface after an hour of training."""
    source = Path(path)
    if not source.is_file():
        from rmbench.trainers.recipes import RECIPE_DIR

        shipped = RECIPE_DIR / "pipelines" / f"{path}.yaml"  # a shipped example, by name
        if not shipped.is_file():
            names = ", ".join(sorted(p.stem for p in (RECIPE_DIR / "pipelines").glob("*.yaml")))
            what = "a folder, not a pipeline file" if source.is_dir() else "no such pipeline file"
            raise PipelineError(f"{source}: {what} (shipped examples: {names})")
        source = shipped
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PipelineError(f"{source}: invalid YAML ({str(err).splitlines()[0]})") from err
    except UnicodeDecodeError as err:
        raise PipelineError(f"{source}: not UTF-8 text (byte {err.start}); a pipeline is a YAML file") from err
    except OSError as err:
        raise PipelineError(f"{source}: cannot read it ({err.strerror or err})") from err
    except RecursionError as err:
        raise PipelineError(f"{source}: nested too deeply to be a pipeline") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise PipelineError(f"{source}: a pipeline needs a non-empty `stages` list")
    unknown = set(raw) - {"name", "stages", "defaults", "leaderboard"}
    if unknown:
        raise PipelineError(f"{source}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))} "
                            "(allowed: name, stages, defaults, leaderboard)")
    name = source.stem if raw.get("name") is None else raw["name"]
    if not isinstance(name, str) or not SAFE_NAME.match(name) or ".." in name:
        raise PipelineError(f"{source}: `name` must be a plain name (letters, digits, . _ -), not {name!r}: it "
                            "names the default output folder runs/NAME")
    defaults = _mapping(raw.get("defaults"), f"{source}: `defaults`")
    leaderboard = _mapping(raw.get("leaderboard"), f"{source}: `leaderboard`")
    stages: list[Stage] = []
    for number, entry in enumerate(raw["stages"], 1):
        stages.append(_parse_stage(entry, number, source, defaults, {s.name for s in stages}))
    return Pipeline(name=name, source=source, stages=stages, leaderboard=leaderboard)


# A stage name is a folder under --out: no separators, no `..`, no leading dot (.cache is
# rmbench's), so nothing is ever written or removed outside --out.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PipelineError(f"{where} must be a mapping of settings, not {type(value).__name__}")
    return value


def _parse_stage(entry, number: int, source: Path, defaults: dict, earlier: set[str]) -> Stage:
    where = f"{source}: stage {number}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise PipelineError(f"{where} needs a `name` (a string)")
    name = entry["name"]
    if not SAFE_NAME.match(name) or ".." in name:
        raise PipelineError(f"{where}: stage name {name!r} is not a plain name (letters, digits, . _ -, not "
                            "starting with a dot, no `..`): it becomes a folder under --out")
    where = f"{source}: stage {name!r}"
    if name in earlier:
        raise PipelineError(f"{where} is declared twice")
    unknown = set(entry) - STAGE_KEYS
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    kinds = [k for k in KINDS if k in entry]
    if len(kinds) != 1:
        raise PipelineError(f"{where} needs exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    if "strict" in entry and kind != "train":
        raise PipelineError(f"{where}: `strict` goes on train stages" + (
            ", and inside an eval stage's mapping: `eval: {..., strict: true}`" if kind == "eval" else
            f" and in eval mappings; a {kind} stage reads no data"))
    if kind == "train" and not isinstance(entry[kind], str):
        raise PipelineError(f"{where}: `train` takes a method name, e.g. `train: dpo`")
    if kind != "train" and not isinstance(entry[kind] or {}, dict):
        raise PipelineError(f"{where}: `{kind}` takes a mapping of settings, e.g. `{kind}: {{...}}`")
    try:
        stage = Stage(name=name, kind=kind, spec=entry[kind], model=validate.text("model", entry.get("model"),
                                                                                   optional=True),
                      data=validate.texts("data", entry.get("data")),
                      settings={**(defaults if kind == "train" else {}),
                                **_mapping(entry.get("set"), "`set`")},
                      recipe=validate.text("recipe", entry.get("recipe"), optional=True),
                      format=validate.text("format", entry.get("format"), optional=True),
                      seed=validate.seed("seed", entry.get("seed", 42)),
                      strict=_flag("strict", entry.get("strict", False)))
        if kind == "train":  # the method now; its `set` values are checked by `train` before it does any work
            from rmbench.trainers.methods import get_method

            get_method(stage.spec)
        else:
            SPEC_CHECKS[kind](stage.spec or {})
    except RmbenchError as err:
        raise PipelineError(f"{where}: {err}") from None
    if kind == "train" and (not stage.model or not stage.data):
        raise PipelineError(f"{where}: a train stage needs `model` and `data`")
    for ref in _references(stage):
        if ref not in earlier and _looks_like_stage(ref):
            raise PipelineError(f"{where} refers to {ref!r}, which is not an earlier stage")
    return stage


GENERATE_KEYS = ("suite", "n", "seed", "split")
TINY_KEYS = ("tokenizer", "layers", "hidden_size", "heads", "max_position_embeddings")


def _check_generate(spec: dict) -> None:
    from rmbench.probes import GENERATED_SUITES, SPLITS

    _only(spec, GENERATE_KEYS, "generate")
    validate.choice("suite", spec.get("suite", "probes"), GENERATED_SUITES)
    validate.integer("n", spec.get("n", 1000), low=1, high=validate.GENERATE_MAX)
    validate.seed("seed", spec.get("seed", 0))
    validate.choice("split", spec.get("split", "train"), SPLITS)


def _check_tiny(spec: dict) -> None:
    _only(spec, TINY_KEYS, "tiny")
    validate.text("tokenizer", spec.get("tokenizer", "pkg:smollm2"))
    for key, high in (("layers", 64), ("hidden_size", 8192), ("heads", 256), ("max_position_embeddings", 1 << 20)):
        validate.integer(key, spec.get(key, 1), low=1, high=high)


def _check_eval(spec: dict) -> None:
    allowed = POLICY_EVAL_KEYS if "policy" in spec else EVAL_KEYS
    unknown = sorted(map(str, set(spec) - allowed))
    if ("policy" in spec) == ("reward" in spec) or unknown:
        said = f"not {', '.join(unknown)}: " if unknown else ""
        raise RmbenchError(f"{said}an eval stage takes either reward (with "
                           f"{', '.join(sorted(EVAL_KEYS - {'reward'}))}) or policy (with "
                           f"{', '.join(sorted(POLICY_EVAL_KEYS - {'policy'}))})")
    for key in ("reward", "policy", "suite", "data_root", "baseline_train", "judge_rm", "baseline_policy", "ref"):
        validate.text(key, spec.get(key), optional=True)
    validate.texts("data", spec.get("data"))
    validate.texts("subsets", spec.get("subsets"))
    validate.integer("limit", spec.get("limit"), low=1, optional=True)
    validate.seed("seed", spec.get("seed", 0))
    validate.integer("max_new_tokens", spec.get("max_new_tokens"), low=1, high=validate.MAX_LENGTH_MAX,
                     optional=True)
    validate.number("temperature", spec.get("temperature"), low=0, optional=True)
    validate.number("top_p", spec.get("top_p"), low=0, high=1, low_open=True, optional=True)
    _flag("strict", spec.get("strict", False))


def _flag(name: str, value) -> bool:
    """true or false as YAML spells them: a quoted "false" is a string, and truthy, so it is refused."""
    if not isinstance(value, bool):
        raise RmbenchError(f"{name} must be true or false, not {value!r}")
    return value


def _only(spec: dict, keys: tuple[str, ...], kind: str) -> None:
    unknown = set(spec) - set(keys)
    if unknown:
        raise RmbenchError(f"{kind} takes {', '.join(keys)}, not {', '.join(sorted(map(str, unknown)))}")


SPEC_CHECKS = {"generate": _check_generate, "tiny": _check_tiny, "eval": _check_eval}


def _references(stage: Stage) -> list[str]:
    refs = [stage.model] if stage.model else []
    refs += stage.data + [str(stage.settings[k]) for k in MODEL_SETTINGS if k in stage.settings]
    if stage.kind == "eval" and isinstance(stage.spec, dict):
        data = stage.spec.get("data", [])
        refs += [str(d) for d in ([data] if isinstance(data, str) else data)]
        refs += [str(stage.spec[k]) for k in EVAL_REFS if k in stage.spec]
    return refs


def _looks_like_stage(value: str) -> bool:
    """A bare word that is no file, hub id, packaged alias or baseline: most likely a stage typo."""
    return value.isidentifier() and value not in ("none", "null", "auto") and not Path(value).exists()


def stage_output(out: Path, stage: Stage) -> Path:
    folder = out / stage.name
    return {"generate": folder / "data.jsonl", "tiny": folder / "model", "train": folder / "final",
            "eval": folder}[stage.kind]


def is_complete(out: Path, stage: Stage) -> bool:
    folder = out / stage.name
    if stage.kind == "generate":
        return (folder / "data.jsonl").is_file()
    if stage.kind == "tiny":
        return (folder / "model" / "config.json").is_file()
    if stage.kind == "train":
        return (folder / DONE_FILE).is_file() and (folder / "final").is_dir()
    return (folder / "results.json").is_file()


def run_pipeline(pipeline: Pipeline, out: Path, redo: list[str] | None = None, show_progress: bool = True) -> dict:
    redo = set(redo or [])
    unknown = redo - {s.name for s in pipeline.stages}
    if unknown:
        raise PipelineError(f"--redo {', '.join(sorted(unknown))}: no such stage in {pipeline.source}")
    out = Path(out)
    make_out_folder(out, f"--out {out}", "the stages' outputs", PipelineError)
    outputs: dict[str, str] = {}
    for stage in pipeline.stages:
        resolve = _resolver(outputs)
        if redo & set(_references(stage)):  # built from something being redone: stale too
            redo.add(stage.name)
        if is_complete(out, stage) and stage.name not in redo:
            console.print(f"[dim]skip[/] {stage.name}: {escape(str(stage_output(out, stage)))} is complete")
        else:
            console.rule(escape(f"{stage.name}: {stage.kind} {stage.spec if stage.kind == 'train' else ''}".strip()))
            RUNNERS[stage.kind](stage, out / stage.name, resolve, stage.name in redo, show_progress)
        outputs[stage.name] = str(stage_output(out, stage))
    return finish(pipeline, out)


def _resolver(outputs: dict[str, str]):
    def resolve(value):
        return outputs.get(value, value) if isinstance(value, str) else value
    return resolve


def _run_generate(stage: Stage, folder: Path, resolve, redo: bool, show_progress: bool) -> None:
    from rmbench.probes.export import export

    spec = {"suite": "probes", "n": 1000, "seed": 0, "split": "train", **(stage.spec or {})}  # checked at load
    export(spec["suite"], spec["n"], spec["seed"], spec["split"], folder / "data.jsonl")


def _run_tiny(stage: Stage, folder: Path, resolve, redo: bool, show_progress: bool) -> None:
    from rmbench.tiny import init_tiny_causal_lm

    spec = dict(stage.spec or {})
    tokenizer = resolve(spec.pop("tokenizer", "pkg:smollm2"))
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".tmp-"))
    init_tiny_causal_lm(tokenizer, staging, seed=stage.seed, **spec)
    shutil.rmtree(folder / "model", ignore_errors=True)
    staging.rename(folder / "model")


def _run_train(stage: Stage, folder: Path, resolve, redo: bool, show_progress: bool) -> None:
    from rmbench.trainers.run import TrainRequest, train

    started = folder.is_dir() and any(folder.glob("checkpoint-*")) and not redo
    settings = {k: resolve(v) if k in MODEL_SETTINGS else v for k, v in stage.settings.items()}
    train(TrainRequest(method=str(stage.spec), model=resolve(stage.model), data=[resolve(d) for d in stage.data],
                       out=folder, recipe=stage.recipe, overrides=settings, format=stage.format,
                       resume=started, overwrite=not started, seed=stage.seed, strict=stage.strict,
                       show_progress=show_progress))
    (folder / DONE_FILE).write_text(datetime.now(timezone.utc).isoformat(timespec="seconds") + "\n")


EVAL_KEYS = {"reward", "suite", "data", "data_root", "limit", "seed", "baseline_train", "subsets", "strict"}
POLICY_EVAL_KEYS = {"policy", "data", "judge_rm", "baseline_policy", "ref", "max_new_tokens", "temperature", "top_p",
                    "seed", "limit", "strict"}
EVAL_REFS = ("reward", "policy", "judge_rm", "baseline_policy", "ref", "baseline_train")  # may name a stage


def _run_eval(stage: Stage, folder: Path, resolve, redo: bool, show_progress: bool) -> None:
    spec = dict(stage.spec or {})  # keys and types checked at load (_check_eval)
    data = spec.pop("data", [])
    spec["data"] = [resolve(d) for d in ([data] if isinstance(data, str) else data)]
    spec.update({k: resolve(spec[k]) for k in EVAL_REFS if k in spec})
    if "policy" in spec:
        from rmbench.evals.policy import PolicyEvalRequest, run_policy_eval

        run_policy_eval(PolicyEvalRequest(out=folder, show_progress=show_progress, **spec))
        return
    from rmbench.evals.run import EvalRequest, run_eval

    if isinstance(spec.get("subsets"), str):
        spec["subsets"] = [spec["subsets"]]
    run_eval(EvalRequest(out=folder, show_progress=show_progress, overwrite=redo, **spec))


RUNNERS = {"generate": _run_generate, "tiny": _run_tiny, "train": _run_train, "eval": _run_eval}


def finish(pipeline: Pipeline, out: Path) -> dict:
    """The leaderboards of every record under OUT: terminal, markdown and HTML."""
    from rmbench.leaderboard import build_boards
    from rmbench.leaderboard.html import to_html
    from rmbench.leaderboard.render import to_markdown, to_rich
    from rmbench.results import atomic_write

    boards = build_boards([out], split_versions=True)
    console.rule(f"{pipeline.name}: leaderboards")
    to_rich(boards, console)
    atomic_write(out / "leaderboard.md", [to_markdown(boards)])
    atomic_write(out / "leaderboard.html", [to_html(boards)])
    console.print(f"wrote {escape(str(out / 'leaderboard.md'))} and {escape(str(out / 'leaderboard.html'))}",
                  highlight=False)
    return {"boards": boards}
