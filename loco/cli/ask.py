"""CLI commands (filled in by its module)."""

COMMANDS: list = []
BENCH: list = []
