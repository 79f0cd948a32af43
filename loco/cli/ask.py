"""``loco ask`` and ``loco chat``: routed answers from the adapter library."""

from __future__ import annotations

import sys

import click

from ..errors import InvalidInput
from ._common import backend_option, bad_utf8, emit_json, json_option, note, read_stdin, registry_option

#: The scales a LoRA adapter may be applied with.
SCALE_LIMIT = 4.0


def _parse_adapter(value: str) -> tuple[str, float, bool]:
    """``NAME`` or ``NAME:SCALE`` as (name, scale, whether a scale was given)."""
    import math

    parts = value.split(":")
    if len(parts) == 1:
        return value, 1.0, False
    if len(parts) > 2 or not parts[0]:
        raise InvalidInput(f"--adapter {value!r} is malformed.", hint="Write NAME or NAME:SCALE, e.g. math-lora:0.7.")
    name, scale = parts
    try:
        number = float(scale)
    except ValueError:
        raise InvalidInput(f"--adapter {value!r}: the scale after ':' must be a number.", hint="Write NAME or NAME:SCALE, e.g. math-lora:0.7.") from None
    if not math.isfinite(number) or not -SCALE_LIMIT <= number <= SCALE_LIMIT:
        raise InvalidInput(f"--adapter {value!r}: the scale must be a finite number from {-SCALE_LIMIT:g} to {SCALE_LIMIT:g}.",
                           hint="Write e.g. math-lora:0.7.")
    return name, number, True


def _check_scales(reg, specs: list[tuple[str, float, bool]]) -> list[tuple[str, float]]:
    """Only LoRA adapters take a scale (a prompt or merged model has nothing to scale)."""
    for name, _, explicit in specs:
        a = reg.adapter(name)
        if explicit and a.type != "lora-gguf":
            raise InvalidInput(f"--adapter {name}: a {a.type} adapter takes no scale.", hint=f"Write --adapter {name} without ':SCALE'.")
    return [(name, scale) for name, scale, _ in specs]


def _options(temperature: float | None, max_tokens: int | None, seed: int | None, think: bool | None = None) -> dict:
    options: dict = {}
    if think is not None:
        options["think"] = think  # None: the adapter's or the registry's setting (default off)
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    if seed is not None:
        options["seed"] = seed
    return options


def _summary(answer) -> str:
    who = answer.adapter or "base model"
    where = answer.domain or "general"
    conf = "" if answer.confidence is None else f", confidence {answer.confidence:.2f}"
    flag = " (uncertain)" if answer.uncertain else ""
    votes = ""
    if answer.votes:
        votes = f" · votes {answer.votes.get('count')}/{answer.votes.get('total')}"
    return f"— {who} ({where}{conf}){flag} · {answer.backend} · {answer.timings['total_ms'] / 1000:.2f} s{votes}"


def _assistant(registry_path, backend, router, strategy, votes, reread, quiet):
    from .. import registry as registry_mod
    from ..backends import get_backend
    from ..pipeline import Assistant

    reg = registry_mod.load(registry_path, validate=False)
    be = get_backend(backend, reg, notify=None if quiet else note)
    rt = None
    if router:
        from ..router import get_router

        rt = get_router(router, reg)
    return reg, Assistant(reg, be, rt, strategy=strategy, votes=votes, reread=reread)


def _common_options(f):
    for decorator in reversed(
        [
            click.option("--strategy", type=click.Choice(["best", "ensemble", "fallback"]), default="best", show_default=True, help="How to use the router's decision (see README)."),
            click.option("--votes", type=click.IntRange(1, 32), default=1, show_default=True, help="Sample N answers and return the majority (self-consistency)."),
            click.option("--reread/--no-reread", default=True, show_default=True, help="RE2: repeat the question in the prompt."),
            click.option("--router", default=None, help="Router by name (default: the registry's, else tfidf)."),
            click.option("--system", default=None, help="Replace the adapter's system prompt."),
            click.option("--temperature", type=float, default=None, help="Sampling temperature (default: the adapter's)."),
            click.option("--max-tokens", type=click.IntRange(1, 8192), default=None, help="Longest answer in tokens (default: the adapter's)."),
            click.option("--seed", type=int, default=None, help="Sampling seed."),
            click.option("--think/--no-think", default=None, help="Let a thinking model on Ollama (e.g. Qwen3) reason first (default: the adapter's or registry's think, else off); the embedded engine ignores it."),
            click.option("--show-thinking", is_flag=True, help="Print the model's reasoning (on stderr) before the answer."),
            backend_option,
            registry_option,
        ]
    ):
        f = decorator(f)
    return f


@click.command("ask")
@click.argument("query")
@click.option("--adapter", "adapter_specs", multiple=True, metavar="NAME[:SCALE]", help="Use this adapter instead of routing; repeat with scales to combine LoRA adapters (embedded engine).")
@click.option("--domain", default=None, help="Use this domain's adapter instead of routing.")
@click.option("--no-route", is_flag=True, help="Answer with the base model.")
@_common_options
@json_option
def ask(query, adapter_specs, domain, no_route, strategy, votes, reread, router, system, temperature, max_tokens, seed, think, show_thinking, backend, registry_path, as_json):
    """Answer QUERY with the best adapter for it (QUERY - reads stdin).

    Prints the answer, then one line with the adapter, domain, router
    confidence, backend and time (on stderr). --json prints one object.
    """
    if query == "-":
        query = read_stdin("The question on stdin")
    if sum(bool(x) for x in (adapter_specs, domain, no_route)) > 1:
        raise InvalidInput("Use only one of --adapter, --domain and --no-route.")
    specs = [_parse_adapter(s) for s in adapter_specs]
    if specs:
        from .. import registry as registry_mod

        _check_scales(registry_mod.load(registry_path, validate=False), specs)
    reg, assistant = _assistant(registry_path, backend, router, strategy, votes, reread, quiet=as_json)
    answer = assistant.ask(
        query,
        system=system,
        options=_options(temperature, max_tokens, seed, think),
        adapters=_check_scales(reg, specs) or None,
        domain=domain,
        no_route=no_route,
    )
    if as_json:
        emit_json(answer.to_dict())
        return
    _show_thinking(answer, show_thinking)
    click.echo(answer.text.strip())
    note(_summary(answer))


def _show_thinking(answer, show: bool) -> None:
    if show and answer.thinking:
        note("thinking: " + answer.thinking.strip())


CHAT_HELP = """Commands: /adapter NAME (pin an adapter), /adapter auto (route again), /clear (forget the conversation), /quit."""


@click.command("chat")
@_common_options
def chat(strategy, votes, reread, router, system, temperature, max_tokens, seed, think, show_thinking, backend, registry_path):
    """Talk with the library: every turn is routed unless an adapter is pinned.

    \b
    /adapter NAME   pin an adapter (every turn goes to it)
    /adapter auto   go back to routing
    /clear          forget the conversation
    /quit           leave
    """
    reg, assistant = _assistant(registry_path, backend, router, strategy, votes, reread, quiet=False)
    history: list[dict] = []
    pinned: str | None = None
    note(CHAT_HELP)
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")  # a bad byte is reported below, not a crash
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        except UnicodeDecodeError as exc:
            click.echo(f"error: that line is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte offset {exc.start}); type it again.", err=True)
            continue
        error = bad_utf8(line, "That line")
        if error is not None:
            click.echo(f"error: {error.message} Type it again.", err=True)
            continue
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            cmd, _, arg = text.partition(" ")
            arg = arg.strip()
            if cmd in ("/quit", "/exit"):
                break
            if cmd == "/clear":
                history.clear()
                click.echo("(conversation cleared)")
            elif cmd == "/adapter":
                if not arg:
                    click.echo(f"(pinned: {pinned})" if pinned else "(routing every turn)")
                elif arg == "auto":
                    pinned = None
                    click.echo("(routing every turn)")
                elif arg in reg.adapters:
                    pinned = arg
                    click.echo(f"(pinned to {arg})")
                else:
                    click.echo(f"error: no adapter named {arg!r}; known: {', '.join(sorted(reg.adapters))}.", err=True)
            else:
                click.echo(CHAT_HELP)
            continue
        try:
            answer = assistant.ask(
                text,
                system=system,
                options=_options(temperature, max_tokens, seed, think),
                adapters=[(pinned, 1.0)] if pinned else None,
                history=history,
            )
        except InvalidInput as exc:
            click.echo(f"error: {exc.message}", err=True)
            continue
        _show_thinking(answer, show_thinking)
        click.echo(answer.text.strip())
        note(_summary(answer))
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer.text.strip()}]


COMMANDS = [ask, chat]


@click.command("ask")
@registry_option
@click.option("--rounds", type=click.IntRange(1, 20), default=2, show_default=True, help="Passes over the fixed questions.")
@json_option
def bench_ask(registry_path, rounds, as_json):
    """Pipeline overhead, latency and peak memory of `loco ask` (embedded engine).

    overhead_share = (wall time - time inside the backend) / wall time over
    routed questions with 32-token greedy answers; latency_ms = a fresh
    `loco ask` process end to end (median of 3); peak_rss_mb = its peak RSS.
    """
    from ..bench import format_figures
    from ..bench.ask import run

    data, figures = run(registry_path, rounds=rounds)
    if as_json:
        emit_json(data)
    else:
        click.echo(format_figures("loco bench ask (embedded engine, 32-token greedy answers)", figures))


BENCH = [bench_ask]
