"""Whether a run covered its suite, so a partial run never wears the benchmark's name.

The manifest says what a suite expects (the subsets its sections weigh and the subsets its
sources name); a run is partial when some of them were not evaluated (--subsets, a missing
file, a hub split without them) or when --limit cut a source short. Nothing here knows a
particular benchmark: a new manifest gets the same treatment.

Record keys (stable; the leaderboard and users read them):
  "partial": bool
  "skipped", "excluded": records left out (rmbench.data.skips), not a cause of "partial"
  "label": the suite name, or e.g. "rm-bench (partial: chat, code)"
  "coverage": {"expected_subsets", "missing_subsets", "missing_sections",
               "incomplete_sections", "unscored_subsets", "cut_by_limit", "limit"}
"""

from __future__ import annotations

from collections.abc import Iterable

from rmbench.data.skips import notes as skip_notes
from rmbench.evals import metrics
from rmbench.evals.suites import Suite

# Score rules that also score subsets no manifest lists, if a run has them (never "missing").
_OPTIONAL_SUBSETS = {"rewardbench_v1": metrics.REWARDBENCH_V1_PRIOR_SUBSETS}


def suite_subsets(suite: Suite, with_optional: bool = False) -> list[str]:
    """The subsets the suite expects, in manifest order; with_optional adds those its score
    rule uses when present (RewardBench's prior sets)."""
    names = [s for members in suite.sections.values() for s in members]
    names += [src.subset for src in suite.sources if src.subset]
    if with_optional:
        names += list(_OPTIONAL_SUBSETS.get(suite.score, ()))
    return list(dict.fromkeys(names))


def coverage(suite: Suite, present_subsets: Iterable[str], cut_by_limit: list[str],
             limit: int | None) -> dict:
    """What of the suite this run evaluated (see the module docstring for the keys)."""
    present = set(present_subsets)
    expected = suite_subsets(suite)
    missing = [s for s in expected if s not in present]
    missing_sections = [name for name, members in suite.sections.items() if not present & set(members)]
    incomplete = [name for name, members in suite.sections.items()
                  if present & set(members) and set(members) - present]
    scored = set(suite_subsets(suite, with_optional=True))
    unscored = sorted(present - scored) if expected else []
    return {"partial": bool(missing or cut_by_limit), "expected_subsets": expected, "missing_subsets": missing,
            "missing_sections": missing_sections, "incomplete_sections": incomplete, "unscored_subsets": unscored,
            "cut_by_limit": list(cut_by_limit), "limit": limit if cut_by_limit else None}


def label(suite: Suite, cov: dict) -> str:
    """The name a result may wear: the suite's, or the suite's with what the run covered."""
    if not cov["partial"]:
        return suite.name
    bits = []
    if cov["missing_subsets"]:
        if suite.sections:
            covered = [f"part of {name}" if name in cov["incomplete_sections"] else name
                       for name in suite.sections if name not in cov["missing_sections"]]
        else:
            covered = [s for s in cov["expected_subsets"] if s not in cov["missing_subsets"]]
        bits.append(", ".join(covered) or "none of its subsets")
    if cov["cut_by_limit"]:
        bits.append(f"--limit {cov['limit']}")
    return f"{suite.name} (partial: {'; '.join(bits)})"


def _plain(text: object) -> str:
    """One printable line: control characters (a newline in a record id) shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def notes(record: dict) -> list[str]:
    """Plain-text lines for the terminal about coverage and skipped records (print them
    without markup: names come from user files; each stays one line)."""
    return [_plain(line) for line in _notes(record)]


def _notes(record: dict) -> list[str]:
    lines = []
    cov = record.get("coverage") or {}
    if record.get("partial"):
        parts = []
        if cov.get("missing_sections"):
            parts.append(f"sections not evaluated: {', '.join(cov['missing_sections'])}")
        if cov.get("missing_subsets"):
            parts.append(f"subsets not evaluated: {', '.join(cov['missing_subsets'])}")
        if cov.get("cut_by_limit"):
            count = len(cov["cut_by_limit"])
            parts.append(f"--limit {cov['limit']} cut {count} source{'s' if count != 1 else ''} short")
        lines.append(f"partial run ({'; '.join(parts)}): this is not the {record['suite']['name']} score")
    if cov.get("unscored_subsets"):
        lines.append(f"subsets outside {record['suite']['name']}'s sections (not in its score): "
                     f"{', '.join(cov['unscored_subsets'])}")
    return lines + skip_notes(record)  # skipped and excluded records, with their first ids
