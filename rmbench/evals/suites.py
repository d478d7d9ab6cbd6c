"""Suites are data: YAML manifests in evals/ say where each subset comes from, which
sections group them with which weights, and how the headline score is computed.

Adding a suite is writing a manifest, not code. A manifest's `sources` name a hub id
(what real users load) and a file name (what `--data-root DIR` resolves locally, for
offline machines and for copies users already downloaded). A source may instead name a
generator (`generate: probes` with `n`, `seed`, `split`): its items are drawn, not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rmbench.errors import SuiteError
from rmbench.evals import suite_metrics

SCORE_RULES = ("mean", "rewardbench_v1", "rewardbench2", "rm-bench", *suite_metrics.SCORE_RULES)
METRICS = ("auto", "pairwise", "best_of_n", "rb2_ties", "rm_bench", *suite_metrics.SUBSET_METRICS)


@dataclass(frozen=True)
class Source:
    subset: str | None  # None: the data carries a subset column
    file: str | None = None
    hub: str | None = None
    split: str | None = None
    format: str | None = None
    generate: str | None = None  # a generated suite (rmbench.probes): items drawn from n and seed, no file
    n: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Suite:
    name: str
    version: str = "adhoc"
    description: str = ""
    score: str = "mean"
    sources: tuple[Source, ...] = ()
    sections: dict[str, dict[str, float]] = field(default_factory=dict)  # section -> {subset: weight}
    metrics: dict[str, str] = field(default_factory=dict)  # subset -> metric override
    manifest: str | None = None

    def metric_for(self, subset: str) -> str:
        return self.metrics.get(subset, "auto")


def manifest_dir() -> Path:
    """The copy packaged as rmbench/manifests in a wheel; evals/ in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "manifests"
    return packaged if packaged.is_dir() else package.parent / "evals"


def available_suites() -> list[str]:
    return sorted(p.stem for p in manifest_dir().glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SuiteError(f"no such suite manifest: {name_or_path}")
    else:
        path = manifest_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise SuiteError(f"unknown suite {name_or_path!r}: choose one of {', '.join(available_suites())} "
                             "or pass a manifest .yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SuiteError(f"{path}: invalid YAML ({' '.join(str(err).split())[:200]})") from err
    return parse_suite(raw, str(path))


def parse_suite(raw: object, where: str) -> Suite:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SuiteError(f"{where}: a suite manifest is a mapping with at least 'name' and 'sources'")
    known = {"name", "version", "description", "paper", "score", "sources", "sections", "metrics"}
    unknown = set(raw) - known
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)}; valid keys are {sorted(known)}")
    score = raw.get("score", "mean")
    if score not in SCORE_RULES:
        raise SuiteError(f"{where}: score must be one of {SCORE_RULES}, not {score!r}")
    sources = []
    for n, src in enumerate(raw.get("sources") or []):
        if isinstance(src, dict) and src.get("generate"):
            sources.append(_generated_source(src, f"{where}: source #{n + 1}"))
            continue
        if not isinstance(src, dict) or not (src.get("file") or src.get("hub")):
            raise SuiteError(f"{where}: source #{n + 1} needs a 'file' or a 'hub' id (or 'generate' with 'n')")
        sources.append(Source(src.get("subset"), src.get("file"), src.get("hub"), src.get("split"),
                              src.get("format")))
    metrics = dict(raw.get("metrics") or {})
    for subset, metric in metrics.items():
        if metric not in METRICS:
            raise SuiteError(f"{where}: metric {metric!r} for {subset} is not one of {METRICS}")
    sections = {str(k): {str(s): float(w) for s, w in (v or {}).items()}
                for k, v in (raw.get("sections") or {}).items()}
    return Suite(name=str(raw["name"]), version=str(raw.get("version", "1")), description=raw.get("description", ""),
                 score=score, sources=tuple(sources), sections=sections, metrics=metrics, manifest=where)


def _generated_source(src: dict, where: str) -> Source:
    """A source drawn by a generator: checked here so a bad manifest fails before any scoring."""
    from rmbench.probes import GENERATED_SUITES, SPLITS

    name, n, seed, split = src["generate"], src.get("n"), src.get("seed", 0), src.get("split", "test")
    if name not in GENERATED_SUITES:
        raise SuiteError(f"{where}: unknown generator {name!r}; generators: {', '.join(GENERATED_SUITES)}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SuiteError(f"{where}: a generated source needs 'n', a positive number of examples (got {n!r})")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SuiteError(f"{where}: 'seed' must be an integer, not {seed!r}")
    if split not in SPLITS:
        raise SuiteError(f"{where}: 'split' of a generated source is one of {', '.join(SPLITS)}, not {split!r}")
    return Source(src.get("subset"), split=split, generate=name, n=n, seed=seed)


def resolve_source(source: Source, suite: Suite, data_root: str | None) -> str:
    """Where to read a source from: the local copy under --data-root, else the hub.

    A file shipped beside the manifest itself (the built-in demo) needs neither.
    """
    shipped = manifest_dir() / source.file if source.file else None
    if shipped and shipped.is_file() and not data_root:
        return str(shipped)
    if data_root:
        if not source.file:
            raise SuiteError(f"suite {suite.name}: a source has no local file name; pass --data instead")
        path = Path(data_root) / source.file
        if not path.exists():
            raise SuiteError(f"{path} not found (suite {suite.name}, subset {source.subset or 'all'}); "
                             "put the file there or pick subsets with --subsets")
        return str(path)
    if source.hub:
        return source.hub
    raise SuiteError(f"suite {suite.name}: subset {source.subset} has no hub id; pass --data-root DIR holding "
                     f"{source.file}")


def select_sources(suite: Suite, subsets: list[str] | None) -> list[Source]:
    if not subsets:
        return list(suite.sources)
    named = {s.subset for s in suite.sources}
    if None in named:  # one source carries all subsets: filter examples later
        return list(suite.sources)
    unknown = [s for s in subsets if s not in named]
    if unknown:
        raise SuiteError(f"suite {suite.name} has no subset {unknown[0]!r}; its subsets: {', '.join(sorted(named))}")
    return [s for s in suite.sources if s.subset in subsets]
