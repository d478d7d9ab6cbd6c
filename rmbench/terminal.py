"""The consoles every module prints through.

User-named things (`baseline:bow`, model paths) must print exactly as typed; rich turns
`:bow:` into an emoji by default, so emoji codes are off here, once, for the whole tool.

Output that is not a terminal (a log file, CI, a pipe) has no width to fit, yet rich
assumes 80 columns there and cuts table cells to "rewar…". Off a terminal the consoles
below are as wide as a table needs (rules stay 80 wide); `COLUMNS=N` still sets a width.
The check runs at every print, since stdout can change after import (tests, redirection).
"""

from __future__ import annotations

from rich.console import Console, ConsoleDimensions
from rich.rule import Rule

LOG_WIDTH = 1000  # wide enough for any table; a table takes only the width its content needs
RULE_WIDTH = 80


class _Console(Console):
    def _unbounded(self) -> bool:
        return self._width is None and not self.is_terminal and not self._environ.get("COLUMNS", "").isdigit()

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return ConsoleDimensions(LOG_WIDTH, size.height) if self._unbounded() else size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)

    def rule(self, title="", *, characters: str = "─", style="rule.line", align="center") -> None:
        width = RULE_WIDTH if self._unbounded() else None
        self.print(Rule(title=title, characters=characters, style=style, align=align), width=width)


console = _Console(emoji=False)
errors = _Console(stderr=True, emoji=False)
