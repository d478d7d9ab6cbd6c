"""The consoles every module prints through.

User-named things (`baseline:bow`, model paths) must print exactly as typed; rich turns
`:bow:` into an emoji by default, so emoji codes are off here, once, for the whole tool.
"""

from rich.console import Console

console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)
