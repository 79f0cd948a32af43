"""``python -m loco`` runs the CLI."""

from .cli import main

main(prog_name="loco")
