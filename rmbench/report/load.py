"""What a report is drawn from: the record(s), their rows, the analysis, and optionally texts.

A record keeps scores and lengths, not texts (copies of benchmark data do not belong in
every results folder). With `texts=True` the record's own sources are read again, exactly as
the evaluation read them (suite, data root, limit, subsets), and their content hashes must
match the record's, so the prompts and answers shown are the ones that were scored. Old
records without per-completion lengths get them from the same reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rmbench.data.schema import PreferenceExample
from rmbench.errors import DataError
from rmbench.evals.analysis import analyze, attach_lengths
from rmbench.leaderboard.records import find_records, load_entry, partial_label, read_record


@dataclass
class RecordReport:
    path: Path  # the results.json
    label: str
    record: dict
    rows: list[dict]
    analysis: dict
    examples: dict[tuple[str, str], PreferenceExample] | None  # (subset, id) -> example, with texts only

    @property
    def suite_name(self) -> str:
        """The suite as this record may be called: a partial run never wears the bare name."""
        return partial_label(self.record) or self.record["suite"]["name"]

    @property
    def judged(self) -> bool:
        return any("outcomes" in r for r in self.rows)


def load_reports(path: str | Path, texts: bool = False, data_root: str | None = None) -> list[RecordReport]:
    """Every preference record under `path` (a results.json, an eval folder or a training run)."""
    reports, policies = [], 0
    for found in find_records([path]):
        record = read_record(found)
        if record["suite"]["name"] == "policy":
            policies += 1
            continue
        entry = load_entry(found, record)
        rows = [dict(r) for r in entry.rows]
        examples = None
        if texts:
            loaded = reload_examples(found, record, data_root)
            attach_lengths(rows, loaded)
            examples = {(e.subset, str(e.id)): e for e in loaded}
        reports.append(RecordReport(found, entry.label, record, rows, analyze(rows), examples))
    if not reports:
        what = f"{policies} policy record(s): their figures are win-rates, KL and ROUGE" if policies else "nothing"
        raise DataError(f"{path}: no preference-evaluation record to report on ({what}); pass a folder written by "
                        "`rmbench eval --out`")
    return reports


def reload_examples(path: Path, record: dict, data_root: str | None) -> list[PreferenceExample]:
    from rmbench.evals.run import EvalRequest, load_examples
    from rmbench.evals.suites import Suite, load_suite

    info, config = record["suite"], record.get("config") or {}
    if info["name"] == "custom":
        suite = Suite(name="custom")
        data = [d["source"] for d in record["data"]]
    else:
        manifest = info.get("manifest")
        suite = load_suite(manifest if manifest and Path(manifest).is_file() else info["name"])
        data = []
    request = EvalRequest(suite=None if data else info["name"], data=data,
                          data_root=data_root or config.get("data_root"), subsets=config.get("subsets"),
                          format=config.get("format"), split=config.get("split"), limit=config.get("limit"),
                          seed=config.get("seed", 0), show_progress=False)
    loaded = load_examples(request, suite)
    # (examples, sources) from the loader of old, a Loaded with both as fields from the new one
    examples, sources = (loaded.examples, loaded.sources) if hasattr(loaded, "examples") else loaded
    found = [s["sha256"] for s in sources]
    wanted = [d["sha256"] for d in record["data"]]
    if found != wanted:
        raise DataError(f"{path}: the data read again (hashes {', '.join(found)}) is not the data this record scored "
                        f"({', '.join(wanted)}); point --data-root at the files the evaluation used, or drop --texts")
    return examples
