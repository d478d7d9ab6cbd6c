"""What `rmbench eval` prints for a record: the reward-model table (subsets, sections, score
line, coverage notes) and the policy summary. It reads only the record, so the CLI imports it
without loading torch, and anything holding a record prints the same figures.
"""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rmbench.data.skips import notes as skip_notes
from rmbench.evals.coverage import notes as coverage_notes
from rmbench.terminal import console


def percent(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def render_record(record: dict) -> None:
    model = record["model"]
    has_styles = any(s["metric"] == "rm_bench" for s in record["subsets"].values())
    title = Text(f"{model['name']} on {record.get('label') or record['suite']['name']}")  # names are not markup
    table = Table(title=title, title_justify="left")
    for column in ("subset", "n", "metric", "accuracy", "95% CI", "ties", "truncated"):
        table.add_column(column, justify="left" if column in ("subset", "metric") else "right")
    if has_styles:
        for column in ("hard", "normal", "easy"):
            table.add_column(column, justify="right")
    for name, s in sorted(record["subsets"].items()):
        low, high = s.get("ci95") or (None, None)
        row = [escape(name), str(s["n"]), s["metric"], percent(s["accuracy"]),
               f"{percent(low)}-{percent(high)}" if low is not None else "-", str(s["ties"]), str(s["truncated"])]
        if has_styles:
            row += [percent(s.get(k)) for k in ("hard", "normal", "easy")]
        table.add_row(*row)
    console.print(table)
    if record["sections"]:
        sections = Table("section", "score", title="sections", title_justify="left")
        for name, value in record["sections"].items():
            sections.add_row(escape(name), percent(value))
        console.print(sections)
    styles = record.get("styles")
    style_text = "  ".join(f"{k} {percent(v)}" for k, v in styles.items()) if styles else ""
    timing = record["timing"]
    rule = record["score_rule"]
    if record.get("partial"):  # a partial run's score never reads as the suite's
        rule = f"on {escape(record['label'])}, {rule} rule"
    console.print(f"[bold]score {percent(record['score'])}[/] ({rule})  {style_text}")
    for line in coverage_notes(record):
        console.print(Text.assemble(("note: ", "yellow"), line), highlight=False, soft_wrap=True)
    if model.get("random_head"):
        console.print("[yellow]note:[/] the reward head is untrained (random): these scores measure nothing yet")
    if "judge_requests" in timing:
        work = (f"{timing['judge_requests']} judge requests ({timing['from_cache']} from cache), order consistency "
                f"{percent(timing['order_consistency'])}%, unparsed {timing['unparsed_verdicts']}")
    else:
        work = f"{timing['unique_completions']} unique completions ({timing['from_cache']} from cache)"
    console.print(f"{timing['examples']} examples, {work}, ties {record['ties']}, truncated {record['truncated']}, "
                  f"{timing['wall_seconds']:.1f} s")



def policy_table(record: dict) -> list:
    """Rich renderables summarising a policy record: the CLI prints them, and so can a trainer's
    checkpoint callback, so both show the same figures (skipped and excluded prompts included,
    in the words a reward-model record uses)."""

    def num(value, digits=2, percent=False) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{100 * value:.1f}" if percent else f"{value:.{digits}f}"

    rouge_types = record["config"]["rouge"]["types"]  # as the record names them
    groups = sorted(record["subsets"].items())
    if len(groups) > 1:
        groups.append(("all", record["overall"]))
    # Metrics down, subsets across: fits a narrow terminal, where eleven columns would not.
    table = Table(title=Text(f"{record['model']['name']} (policy) on "  # names are not markup
                             f"{', '.join(s['source'] for s in record['data'])}"), title_justify="left")
    table.add_column("metric")
    for name, _ in groups:
        table.add_column(escape(name), justify="right")

    def spread(d) -> str:
        return f"{num(d['mean'])} ± {num(d['std'])}" if d else "-"

    def interval(pair, percent=False) -> str:
        return f"{num(pair[0], percent=percent)} - {num(pair[1], percent=percent)}" if pair[0] is not None else "-"

    lines = [
        ("prompts", lambda s: str(s["n"])),
        ("win-rate vs baseline", lambda s: num(s["accuracy"], percent=True)),
        ("  95% CI", lambda s: interval(s["ci95"], percent=True)),
        ("  wins / ties / losses",
         lambda s: f"{s['wins']} / {s['ties']} / {s['losses']}" if s["accuracy"] is not None else "-"),
        ("judge reward", lambda s: spread(s["reward"])),
        ("  median (p05 to p95)", lambda s: "{p50} ({p05} to {p95})".format(
            **{k: num(v) for k, v in s["reward"]["quantiles"].items()}) if s["reward"] else "-"),
        ("baseline reward", lambda s: spread(s["baseline_reward"])),
        ("KL to reference", lambda s: spread(s["kl"])),
        ("ROUGE-1 / 2 / L", lambda s: " / ".join(num(s["rouge"][k], percent=True) for k in rouge_types)
         if s["rouge"] else "-"),
        ("tokens mean / median", lambda s: f"{num(s['length']['tokens_mean'], 1)} / "
                                           f"{num(s['length']['tokens_median'], 1)}"),
        ("chars mean", lambda s: num(s["length"]["chars_mean"], 1)),
        ("hit max_new_tokens %", lambda s: num(s["length"]["hit_max_fraction"], percent=True)),
        ("baseline tokens mean", lambda s: num(s["baseline_length"]["tokens_mean"], 1) if s["baseline_length"]
         else "-"),
        ("prompts truncated", lambda s: str(s["truncated"])),
    ]
    for label, cell in lines:
        table.add_row(label, *(cell(s) for _, s in groups))
    generation = record["config"]["generation"]
    timing = record["timing"]
    score = record["score"]
    shown = "-" if score is None else num(score, percent=True) if record["score_rule"].startswith("win") else num(score)
    line = Text.from_markup(
        f"[bold]score {shown}[/] ({record['score_rule']})  "
        f"{generation['n_prompts']} prompts, max_new_tokens {generation['max_new_tokens']}, temperature "
        f"{generation['temperature']}, top_p {generation['top_p']}, seed {generation['seed']}; "
        f"generated {timing['generation']['generated']} ({timing['generation']['from_cache']} from cache) at "
        f"{timing['tokens_per_second'] or '-'} tokens/s; prompts truncated {record['truncated']}; "
        f"{timing['wall_seconds']:.1f} s")
    notes = [Text.assemble(("note: ", "yellow"), line) for line in skip_notes(record)]  # ids are plain text
    return [table, line, *notes]
