"""``loco serve``: the library as Ollama- and OpenAI-compatible models over HTTP."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, note, registry_option, show_progress

OPEN_WEBUI = """\b
Point a chat app at it:
  Open WebUI   Settings > Admin Settings > Connections > Ollama API:
               http://127.0.0.1:11435, then pick the model "loco" to have
               every message routed. From Docker: OLLAMA_BASE_URL=
               http://host.docker.internal:11435, loco serve --host 0.0.0.0
               --api-key KEY, and KEY as the connection's bearer key.
  OpenAI apps  base URL http://127.0.0.1:11435/v1, any API key (or KEY).
  ollama CLI   OLLAMA_HOST=127.0.0.1:11435 ollama run loco
"""


@click.command("serve", epilog=OPEN_WEBUI)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (anything but loopback needs --api-key).")
@click.option("--port", type=click.IntRange(0, 65535), default=11435, show_default=True, help="Port (0: any free port).")
@click.option("--backend", type=click.Choice(["auto", "ollama", "embedded", "openai"]), envvar="LOCO_BACKEND", show_envvar=True,
              default="auto", show_default=True, help="Engine behind the server.")
@click.option("--strategy", type=click.Choice(["best", "ensemble", "fallback"]), default="best", show_default=True,
              help="How the routed model `loco` uses the router's decision.")
@click.option("--votes", type=click.IntRange(1, 32), default=1, show_default=True, help="Self-consistency votes per answer.")
@click.option("--reread/--no-reread", default=True, show_default=True, help="RE2 on the last user turn.")
@click.option("--router", default=None, help="Router by name (default: the registry's, else tfidf).")
@click.option("--show-adapter", is_flag=True, help="Append a one-line footer naming the adapter to every answer.")
@click.option("--queue", type=click.IntRange(0, 100000), default=32, show_default=True, help="Requests that may wait; beyond, 503 with Retry-After.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Requests answered at once (default: 1 on the embedded engine, 8 where it batches, 4 otherwise).")
@click.option("--max-body", type=click.IntRange(1024, 1 << 30), default=1 << 20, show_default=True, help="Largest request body in bytes.")
@click.option("--api-key", envvar="LOCO_API_KEY", show_envvar=True, default=None, help="Require Authorization: Bearer KEY on every request.")
@registry_option
def serve(host, port, backend, strategy, votes, reread, router, show_adapter, queue, workers, max_body, api_key, registry_path):
    """Serve the library over the Ollama API and the OpenAI API.

    \b
    Models: loco        every request routed on its last user message
            loco-NAME   pinned to the adapter NAME
            loco-base   the base model
    Each answer names the adapter, domain and confidence that answered: a
    `loco` object in the final Ollama chunk and the OpenAI response, and the
    X-Loco-Adapter / X-Loco-Domain / X-Loco-Confidence headers.
    """
    from .. import registry as registry_mod
    from ..backends import get_backend
    from ..serve import check_binding, serve as run
    from ..serve.app import ServeConfig
    from ..serve.batching import BatchingBackend, can_batch
    from ..serve.service import Service

    check_binding(host, api_key)
    reg = registry_mod.load(registry_path, validate=False)
    be = get_backend(backend, reg, notify=note)
    batching = can_batch(be)
    if batching:  # concurrent requests become batches on the engine
        be = BatchingBackend(be)
    rt = None
    if router:
        from ..router import get_router

        rt = get_router(router, reg)
    service = Service(reg, be, rt, strategy=strategy, votes=votes, reread=reread, show_adapter=show_adapter)
    if workers is None:
        workers = 8 if batching else 1 if be.name == "embedded" else 4
    config = ServeConfig(api_key=api_key, max_body=max_body, queue=queue, workers=workers)
    note(f"loco serve on http://{host}:{port} ({be.name} backend; Ollama API at /api, OpenAI API at /v1). Ctrl-C stops it.")
    run(service, config, host=host, port=port)


COMMANDS = [serve]


@click.command("serve")
@registry_option
@click.option("--requests", type=click.IntRange(2, 10000), default=16, show_default=True, help="Requests per concurrency level and path.")
@json_option
def bench_serve(registry_path, requests, as_json):
    """Requests/s and p50/p99 latency through `loco serve` vs the pipeline in process.

    \b
    The same routed questions (model loco, 16-token greedy answers) at 1, 4
    and 16 concurrent clients: through loco serve (HTTP on 127.0.0.1,
    /api/chat) and straight to the ask pipeline on the same embedded engine.
    Target: the server adds <= 5 % to p50 at 1 client; also shown, the time
    a served request spends outside the pipeline and its share of p50.
    """
    from ..bench import format_figures
    from ..bench.serve import LEVELS, figures, run

    if show_progress(as_json):
        with click.progressbar(length=2 * len(LEVELS), label="loco bench serve", file=click.get_text_stream("stderr")) as bar:
            data = run(registry_path, requests=requests, progress=bar.update)
    else:
        data = run(registry_path, requests=requests)
    if as_json:
        emit_json(data)
        return
    click.echo(format_figures(f"loco bench serve (embedded engine, {requests}+ requests per level, 16-token greedy answers)", figures(data)))


BENCH = [bench_serve]
