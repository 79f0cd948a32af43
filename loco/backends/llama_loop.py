"""The embedded engine's low-level generation loop: llama.cpp's batch API, several sequences at once.

Written against llama-cpp-python 0.3.36 (llama.cpp 0.5.0, ``include/llama.h``)
and shaped like llama.cpp's own ``examples/batched`` and ``examples/parallel``:

* one ``llama_context`` per loaded model for this loop (beside the one
  llama-cpp-python's ``Llama`` keeps), made with ``n_seq_max`` sequences and
  ``kv_unified = false``: each sequence has its own KV stream of
  ``n_ctx / n_seq_max`` cells, so its attention never sees another
  sequence's cells and its output does not depend on its neighbours;
* a sequence id is a slot. A request takes a free slot, its prompt is
  decoded in one ``llama_batch`` (logits for its last token only), and then
  every step decodes one token for each running sequence in one batch;
  a sequence that ends (end of generation token, a stop string,
  ``num_predict``, or its context full) leaves the batch, its cells are
  removed (``llama_memory_seq_rm``) and the next waiting request takes the slot;
* requests with the same prompt tokens (the samples of ``--votes``) decode
  the prompt once: its cells are copied to the other slots
  (``llama_memory_seq_cp``; across KV streams llama.cpp copies the whole
  stream buffer at the next decode, ``llama-kv-cache.cpp`` ``seq_cp``), and
  each sample draws its first token from the same logits;
* prompts that begin alike (an eval's items share the chat template's
  system turn and the start of the user turn) decode their common prefix
  once, in a slot of its own beside the ``n_seq_max`` working slots (the
  prefix ends just after a turn marker of the chat template, so a prompt is
  split at the same place whatever it shares a batch with); each
  request then starts from a copy of that slot and decodes only the rest of
  its prompt. The prefix slot outlives a call: the next call keeps the part
  its prompts share with it (``llama_memory_seq_rm`` from the first position
  that differs) and decodes only what is new, so even one request at a time
  reuses the last prompt's common start;
* each request samples with its own sampler chain in C, built the way
  llama-cpp-python 0.3.36 builds it in ``Llama._init_sampler`` (penalties,
  then greedy at temperature 0, else top-k, typical, top-p, min-p,
  temperature, dist with the seed), so greedy answers match
  ``Llama.create_completion`` token for token.

The LoRA adapters of the context are set with ``llama_set_adapters_lora``;
after a change the memory is cleared, because cells computed with other
weights are stale. The caller holds the model's lock around every call.
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import GenerationError

#: Why a sequence ended. ``context``: it filled its share of the context
#: (prompt + generated tokens reached the per-sequence context) before
#: ``num_predict`` or a stop.
DONE_STOP, DONE_LENGTH, DONE_CONTEXT = "stop", "length", "context"
CTX_ROUND = 256  # per-sequence contexts are rounded up to this, so a context is reused more often
MIN_PREFIX = 16  # a shorter common prefix is decoded with each prompt (a copy costs more than it saves)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The number of leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class SeqRequest:
    """One sequence to generate: prompt tokens and sampling (``sampling_arguments``' names)."""

    tokens: list[int]
    sampling: dict[str, Any]
    repeat_last_n: int
    stops: list[str] = field(default_factory=list)


@dataclass
class SeqResult:
    """What one sequence produced, with wall-clock timings in milliseconds."""

    text: str
    done_reason: str
    prompt_tokens: int
    output_tokens: int
    prompt_ms: float  # from its admission until its first token was sampled
    generate_ms: float  # the rest, until it ended
    shared_prompt: bool = False  # its prompt cells were copied from another sequence
    t_end: float = 0.0  # time.perf_counter() when it ended


def _sampler_chain(ll: Any, n_vocab: int, s: dict[str, Any], repeat_last_n: int):
    """A sampler chain like llama-cpp-python's ``Llama._init_sampler`` (0.3.36)."""
    params = ll.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = ll.llama_sampler_chain_init(params)
    add = ll.llama_sampler_chain_add
    add(chain, ll.llama_sampler_init_penalties(n_vocab, repeat_last_n, s["repeat_penalty"], s["frequency_penalty"], s["presence_penalty"]))
    temp = s["temperature"]
    if temp == 0.0:
        add(chain, ll.llama_sampler_init_greedy())
    else:
        add(chain, ll.llama_sampler_init_top_k(s["top_k"]))
        add(chain, ll.llama_sampler_init_typical(s["typical_p"], 1))
        add(chain, ll.llama_sampler_init_top_p(s["top_p"], 1))
        add(chain, ll.llama_sampler_init_min_p(s["min_p"], 1))
        add(chain, ll.llama_sampler_init_temp(temp))
        add(chain, ll.llama_sampler_init_dist(s["seed"]))
    return chain


@dataclass
class _Seq:
    index: int  # position of the request in the call
    slot: int
    req: SeqRequest
    sampler: Any
    t_admit: float
    n_past: int = 0
    pending: int | None = None  # the sampled token still to decode
    out: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    t_first: float | None = None
    shared: bool = False


class BatchContext:
    """A llama.cpp context for batched generation on one model (see the module docstring)."""

    def __init__(self, model: Any, *, n_seq_max: int, n_ctx_seq: int, n_threads: int, flash_attn: int | None = 0):
        import llama_cpp.llama_cpp as ll

        self.ll = ll
        self.model = model
        params = ll.llama_context_default_params()
        params.n_seq_max = n_seq_max + 1  # the working slots and the shared-prefix slot
        params.n_ctx = (n_seq_max + 1) * n_ctx_seq
        params.n_batch = max(512, n_ctx_seq)
        params.n_ubatch = 512
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        if hasattr(params, "kv_unified"):
            params.kv_unified = False
        if flash_attn is not None and hasattr(params, "flash_attn_type"):
            # llama-cpp-python's Llama turns flash attention off (0) where llama.cpp's
            # default is "auto" (-1); the same choice keeps answers equal to Llama's
            params.flash_attn_type = flash_attn
        ctx = ll.llama_init_from_model(model, params)
        if not ctx:
            raise GenerationError(
                f"llama.cpp could not make a context for {n_seq_max} sequences of {n_ctx_seq} tokens.",
                hint="Use a smaller batch size (LOCO_BATCH_SIZE) or a shorter num_predict.",
            )
        self.ctx = ctx
        self.n_seq_max = int(ll.llama_n_seq_max(ctx)) - 1  # working slots
        self.prefix_slot = self.n_seq_max  # holds the shared prefix (see the module docstring)
        self.prefix: list[int] = []  # the tokens the prefix slot holds, at positions 0..
        self.last_prompt: list[int] = []  # the last prompt admitted, to find a prefix across calls
        self.n_ctx_seq = int(ll.llama_n_ctx_seq(ctx))
        self.n_batch = int(params.n_batch)
        self.n_threads = n_threads
        self.mem = ll.llama_get_memory(ctx)
        self.vocab = ll.llama_model_get_vocab(model)
        self.n_vocab = int(ll.llama_vocab_n_tokens(self.vocab))
        self.batch = ll.llama_batch_init(self.n_batch + self.n_seq_max, 0, 1)
        self.active: tuple = ()  # the adapter configuration set on the context
        self.limit = self.n_ctx_seq  # tokens one sequence may hold (generate() may lower it)
        self._piece = ctypes.create_string_buffer(256)

    # ------------------------------------------------------------------ state

    def fits(self, n_seq: int, n_ctx_seq: int) -> bool:
        return n_seq <= self.n_seq_max and n_ctx_seq <= self.n_ctx_seq

    def set_adapters(self, key: tuple, pointers: Sequence[Any], scales: Sequence[float]) -> None:
        """Put these LoRA adapters on the context (``key`` names the set) and clear the memory."""
        ll = self.ll
        if key == self.active:
            return
        n = len(pointers)
        arr = (ll.llama_adapter_lora_p_ctypes * max(n, 1))(*pointers)
        sc = (ctypes.c_float * max(n, 1))(*scales)
        if ll.llama_set_adapters_lora(self.ctx, arr if n else None, n, sc if n else None) != 0:
            raise GenerationError("llama.cpp refused to set the LoRA adapters on the model.")
        self.active = key
        self.clear()

    def clear(self) -> None:
        self.ll.llama_memory_clear(self.mem, True)
        self.prefix = []
        self.last_prompt = []

    def close(self) -> None:
        if self.ctx is not None:
            self.ll.llama_batch_free(self.batch)
            self.ll.llama_free(self.ctx)
            self.ctx = None

    # ------------------------------------------------------------------ helpers

    def _text_of(self, token: int) -> bytes:
        ll = self.ll
        n = ll.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:  # a piece longer than the buffer
            self._piece = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def _add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        b = self.batch
        i = b.n_tokens
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits
        b.n_tokens = i + 1
        return i

    def _plan_prefix(self, prompts: Sequence[Sequence[int]]) -> int:
        """Bring the prefix slot to the common start of ``prompts``; the number of prompt tokens
        every request can copy from it instead of decoding (0: decode whole prompts).

        The target is the prefix the distinct prompts of this call share, or, for a call with
        one distinct prompt, the one it shares with the last prompt admitted. At least one
        token of every prompt stays to be decoded (its logits give the first token)."""
        ll = self.ll
        first = prompts[0]
        if any(p != first for p in prompts[1:]):
            target = min(common_prefix(first, p) for p in prompts)
        elif self.last_prompt:
            target = common_prefix(first, self.last_prompt)
        else:
            return 0
        target = min(target, min(len(p) for p in prompts) - 1)
        # end the prefix just after a control token (a turn marker of the chat template), so that
        # a prompt is split at the same place whatever it is batched with: the split changes how
        # llama.cpp groups the rows of its matrix products, and with it the last bits of the logits
        while target > 0 and not ll.llama_vocab_is_control(self.vocab, first[target - 1]):
            target -= 1
        if target < MIN_PREFIX:
            return 0
        keep = common_prefix(self.prefix, first[:target])
        if keep < len(self.prefix):
            ll.llama_memory_seq_rm(self.mem, self.prefix_slot, keep, -1)
            self.prefix = self.prefix[:keep]
        if target > keep:
            self.batch.n_tokens = 0
            for pos in range(keep, target):
                self._add(first[pos], pos, self.prefix_slot, pos == target - 1)
            rc = ll.llama_decode(self.ctx, self.batch)
            self.batch.n_tokens = 0
            if rc != 0:
                ll.llama_memory_seq_rm(self.mem, self.prefix_slot, -1, -1)
                self.prefix = []
                return 0
            self.prefix = list(first[:target])
        return target

    # ------------------------------------------------------------------ the loop

    def generate(
        self,
        requests: Sequence[SeqRequest],
        *,
        max_parallel: int | None = None,
        n_ctx: int | None = None,
        on_done: Callable[[int, SeqResult], None] | None = None,
    ) -> list[SeqResult]:
        """Generate every request, at most ``max_parallel`` (default ``n_seq_max``) at a time; results in order.

        ``n_ctx`` caps a sequence's prompt plus output below the context's own
        per-sequence size (llama.cpp rounds that up). ``on_done(index, result)``
        is called as each sequence ends.
        """
        ll = self.ll
        width = max(1, min(max_parallel or self.n_seq_max, self.n_seq_max))
        self.limit = min(self.n_ctx_seq, n_ctx or self.n_ctx_seq)
        results: list[SeqResult | None] = [None] * len(requests)
        waiting: deque[list[int]] = deque()  # groups of request indices with identical prompts
        by_prompt: dict[tuple[int, ...], list[int]] = {}
        for i, r in enumerate(requests):
            if not r.tokens:
                raise GenerationError("A request has an empty prompt.")
            if len(r.tokens) >= self.limit:
                raise GenerationError(f"A prompt of {len(r.tokens)} tokens does not fit a sequence context of {self.limit}.")
            if r.sampling.get("max_tokens") == 0:
                results[i] = SeqResult("", DONE_LENGTH, len(r.tokens), 0, 0.0, 0.0, t_end=time.perf_counter())
                if on_done is not None:
                    on_done(i, results[i])
                continue
            key = tuple(r.tokens)
            group = by_prompt.get(key)
            if group is None:
                group = by_prompt[key] = []
                waiting.append(group)
            group.append(i)
        free = list(range(width))[::-1]
        running: list[_Seq] = []
        try:
            prompts = [requests[g[0]].tokens for g in waiting]
            shared = 0
            if prompts:
                shared = self._plan_prefix(prompts)
                self.last_prompt = list(prompts[-1])
            while waiting or running:
                self.batch.n_tokens = 0
                steps: list[tuple[_Seq, int]] = []  # (sequence, batch index of its logits)
                for s in running:
                    steps.append((s, self._add(s.pending, s.n_past, s.slot, True)))
                    s.n_past += 1
                copies: list[tuple[int, int]] = []
                budget = self.n_batch - self.batch.n_tokens
                while waiting and free:
                    group = waiting[0]
                    n_prompt = len(requests[group[0]].tokens)
                    if n_prompt - shared > budget and self.batch.n_tokens > 0:
                        break
                    take, rest = group[: len(free)], group[len(free):]
                    if rest:
                        waiting[0] = rest
                    else:
                        waiting.popleft()
                    now = time.perf_counter()
                    first = None
                    for j, index in enumerate(take):
                        req = requests[index]
                        slot = free.pop()
                        ll.llama_memory_seq_rm(self.mem, slot, -1, -1)
                        seq = _Seq(index, slot, req, _sampler_chain(ll, self.n_vocab, req.sampling, req.repeat_last_n), now)
                        seq.n_past = n_prompt
                        if first is None:
                            first = seq
                            last = len(req.tokens) - 1
                            if shared:  # start from the prefix slot's cells (metadata now, data at this decode)
                                ll.llama_memory_seq_cp(self.mem, self.prefix_slot, slot, -1, -1)
                            for p in range(shared, len(req.tokens)):
                                idx = self._add(req.tokens[p], p, slot, p == last)
                        else:
                            seq.shared = True
                            copies.append((first.slot, slot))
                        steps.append((seq, idx))
                        running.append(seq)
                    budget = self.n_batch - self.batch.n_tokens
                rc = ll.llama_decode(self.ctx, self.batch)
                if rc != 0:
                    raise GenerationError(f"llama.cpp could not decode the batch (llama_decode returned {rc}).")
                for src, dst in copies:  # done at the next decode (llama-kv-cache.cpp, seq_cp across streams)
                    ll.llama_memory_seq_cp(self.mem, src, dst, -1, -1)
                now = time.perf_counter()
                for seq, idx in steps:
                    token = ll.llama_sampler_sample(seq.sampler, self.ctx, idx)
                    if seq.t_first is None:
                        seq.t_first = now
                    reason = self._advance(seq, token)
                    if reason is not None:
                        results[seq.index] = self._finish(seq, reason)
                        running.remove(seq)
                        free.append(seq.slot)
                        ll.llama_memory_seq_rm(self.mem, seq.slot, -1, -1)
                        ll.llama_sampler_free(seq.sampler)
                        seq.sampler = None
                        if on_done is not None:
                            on_done(seq.index, results[seq.index])
        except BaseException:
            for s in running:
                if s.sampler is not None:
                    ll.llama_sampler_free(s.sampler)
            self.clear()
            raise
        return [r for r in results if r is not None]

    def _advance(self, seq: _Seq, token: int) -> str | None:
        """Take the sampled token; the reason the sequence ends, or None to go on."""
        if self.ll.llama_vocab_is_eog(self.vocab, token):
            return DONE_STOP
        seq.out.append(token)
        before = len(seq.data)
        seq.data += self._text_of(token)
        stops = seq.req.stops
        if stops:
            longest = max(len(s) for s in stops)
            tail = bytes(seq.data[max(0, before - 4 * longest) :]).decode("utf-8", errors="ignore")
            if any(s in tail for s in stops):
                return DONE_STOP
        limit = seq.req.sampling.get("max_tokens")
        if limit is not None and len(seq.out) >= limit:
            return DONE_LENGTH
        if seq.n_past + 1 >= self.limit:  # prompt + output fill the context: no cell left for another token
            return DONE_CONTEXT
        seq.pending = token
        return None

    def _finish(self, seq: _Seq, reason: str) -> SeqResult:
        end = time.perf_counter()
        text = bytes(seq.data).decode("utf-8", errors="ignore")
        if reason == DONE_STOP and seq.req.stops:
            cut = [text.find(s) for s in seq.req.stops if s in text]
            if cut:
                text = text[: min(cut)]
        t_first = seq.t_first or end
        return SeqResult(
            text=text,
            done_reason=reason,
            prompt_tokens=len(seq.req.tokens),
            output_tokens=len(seq.out),
            prompt_ms=(t_first - seq.t_admit) * 1000.0,
            generate_ms=(end - t_first) * 1000.0,
            shared_prompt=seq.shared,
            t_end=end,
        )


def seq_context(requests: Sequence[SeqRequest], limit: int) -> int:
    """The per-sequence context these requests need: the longest prompt plus num_predict
    (``limit`` when a request has no num_predict), rounded up, at most ``limit``."""
    need = 0
    for r in requests:
        mt = r.sampling.get("max_tokens")
        need = max(need, limit if mt is None else len(r.tokens) + int(mt) + 1)
    need = -(-need // CTX_ROUND) * CTX_ROUND
    return min(limit, max(CTX_ROUND, need))


__all__ = ["BatchContext", "SeqRequest", "SeqResult", "DONE_STOP", "DONE_LENGTH", "DONE_CONTEXT", "seq_context"]
