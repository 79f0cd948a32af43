"""The ``loco`` command line: a thin edge over the library.

Each command group lives in its own module and exports ``COMMANDS`` (added to
``loco``) and ``BENCH`` (added to ``loco bench``). Heavy libraries are imported
inside the commands, so ``loco --help`` and ``loco route`` start fast.
"""

from __future__ import annotations

import click

from .. import __version__
from ..errors import LocoError
from ._common import LocoClickError


class LocoGroup(click.Group):
    """A group that turns LocoError into a clear message and its exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, once
            from ._common import bad_utf8

            for i, arg in enumerate(args, 1):
                error = bad_utf8(arg, f"Argument {i} ({arg.encode('utf-8', 'surrogateescape')[:40].decode('utf-8', 'replace')!r})")
                if error is not None:
                    raise LocoClickError(error)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LocoError as exc:
            raise LocoClickError(exc) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=LocoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loco")
def main() -> None:
    """One assistant from a library of specialist adapters of one small model.

    \b
    The registry (registry.yaml) lists the adapters; `loco register` makes each
    an Ollama model; `loco ask` routes a question to the right specialist;
    `loco eval` and `loco leaderboard` prove and rank them.
    """


@main.group(cls=LocoGroup)
def bench() -> None:
    """Benchmarks: print measured figures beside their targets."""


def _install() -> None:
    from . import adapters, ask, distribution, engine, evaluate, library, merge, migrate, register, router, sandbox, serve, train

    for module in (adapters, distribution, merge, migrate, register, engine, router, ask, evaluate, library, train, sandbox, serve):
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)
        for command in getattr(module, "BENCH", ()):
            bench.add_command(command)


_install()
