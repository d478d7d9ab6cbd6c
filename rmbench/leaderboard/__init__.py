"""`rmbench leaderboard`: rank results records with bootstrap intervals, render them.

records.py finds, checks and groups records; stats.py resamples prompts to put an
interval on every figure and decides ranks; render.py and html.py turn the ranked boards
into text, tables and a self-contained page.
"""

from rmbench.leaderboard.records import Entry, Group, group_entries, load_entries, refuse_overwriting_inputs
from rmbench.leaderboard.stats import Board, Estimate, rank_group
from rmbench.results import check_pair

__all__ = ["Board", "Entry", "Estimate", "Group", "group_entries", "load_entries", "rank_group", "build_boards",
           "refuse_overwriting_inputs"]


def build_boards(paths, suite: str | None = None, split_versions: bool = False, resamples: int = 1000,
                 seed: int = 0) -> list[Board]:
    """Everything the command does before rendering, as one call for library users."""
    groups = group_entries(load_entries(paths), suite=suite, split_versions=split_versions)
    for group in groups:  # after the row-level checks, whose messages say more about what is wrong
        for entry in group.entries:
            check_pair(entry.path, entry.record)  # a results.json names its scores.jsonl's sha256
    return [rank_group(group, resamples=resamples, seed=seed) for group in groups]
