"""Ask: route -> choose adapter(s) -> prompt -> generate -> aggregate.

:class:`Assistant` answers one question with the registry's adapters. The
answering strategies decide from the router's :class:`Routing`:

- ``best``: the domain's active adapter; the base model when the router chose
  "none" or abstained (then the answer is marked ``uncertain``).
- ``ensemble``: the domain's top 2-3 adapters by rank, majority vote across
  all their answers.
- ``fallback``: the domain's active adapter even when the router abstained;
  if the router abstained, or (with votes) the answers agree too little, the
  next-ranked adapter, then the base model. Every step is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from .backends.base import Backend, ChatRequest, Message, Reply, Target
from .errors import InvalidInput, Unsupported
from .prompts import build_messages
from .registry import Adapter, Registry, rank
from .router.base import Routing
from .voting import ANSWER_KINDS, Vote, vote

STRATEGIES = ("best", "ensemble", "fallback")
ENSEMBLE_SIZE = 3
MIN_AGREEMENT = 0.5  # fallback moves on unless more than this share of the votes agree
VOTE_TEMPERATURE = 0.7  # sampling temperature when --votes > 1 and none is given


@dataclass
class Step:
    """One attempt of the fallback strategy (or the single step of the others)."""

    adapter: str | None
    reason: str
    answer: str = ""
    agreement: float | None = None
    accepted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "reason": self.reason, "agreement": self.agreement, "accepted": self.accepted, "answer": self.answer}


@dataclass
class Answer:
    """What ``loco ask`` prints."""

    text: str
    domain: str | None
    adapter: str | None
    model: str
    confidence: float | None
    uncertain: bool
    backend: str
    strategy: str
    votes: dict[str, Any] | None
    timings: dict[str, float]
    tokens: dict[str, int]
    steps: list[Step] = field(default_factory=list)
    routing: Routing | None = None
    thinking: str | None = None  # the chosen reply's reasoning (with think on), kept apart from text

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape of ``loco ask``."""
        return {
            "answer": self.text,
            "thinking": self.thinking,
            "domain": self.domain,
            "adapter": self.adapter,
            "model": self.model,
            "confidence": self.confidence,
            "uncertain": self.uncertain,
            "backend": self.backend,
            "strategy": self.strategy,
            "votes": self.votes,
            "timings": self.timings,
            "tokens": self.tokens,
            "steps": [s.to_dict() for s in self.steps],
            "routing": None if self.routing is None else self.routing.to_dict(),
        }


@dataclass(frozen=True)
class Plan:
    """Which adapters to try, in order (None = the base model), and why."""

    candidates: tuple[Adapter | None, ...]
    reasons: tuple[str, ...]
    uncertain: bool


@dataclass(frozen=True)
class Decision:
    """What :meth:`Assistant.decide` chose: the targets to try in order, why, and the routing."""

    candidates: tuple[Target, ...]
    reasons: tuple[str, ...]
    uncertain: bool
    domain: str | None
    routing: Routing | None
    route_ms: float

    @property
    def first(self) -> Target:
        """The target that answers first."""
        return self.candidates[0]


def ranked_adapters(registry: Registry, domain: str) -> list[Adapter]:
    """The domain's non-retired adapters, the active one first, then by rank."""
    ordered = [r.adapter for r in rank(registry, domain)]
    active = registry.active(domain)
    if active is not None:
        ordered = [active] + [a for a in ordered if a.name != active.name]
    return ordered


def _abstained(routing: Routing) -> str:
    """Why the router abstained: its own reason (for example no known gain), else its confidence."""
    return routing.reason or f"router abstained (confidence {routing.confidence:.2f})"


def plan(routing: Routing, registry: Registry, strategy: str = "best") -> Plan:
    """Decide from ``routing`` which adapters answer (a pure function of its inputs)."""
    if strategy not in STRATEGIES:
        raise InvalidInput(f"Unknown strategy {strategy!r}.", hint=f"Choose one of: {', '.join(STRATEGIES)}.")
    domain = routing.domain
    if domain is None:
        return Plan((None,), ("router chose no domain",), routing.abstained)
    ranked = ranked_adapters(registry, domain)
    active = registry.active(domain)
    if strategy == "best":
        if routing.abstained:
            return Plan((None,), (_abstained(routing),), True)
        if active is None:
            return Plan((None,), (f"no active adapter in domain {domain!r}",), False)
        return Plan((active,), ("active adapter of the domain",), False)
    if strategy == "ensemble":
        if routing.abstained:
            return Plan((None,), (_abstained(routing),), True)
        members = ranked[:ENSEMBLE_SIZE]
        if not members:
            return Plan((None,), (f"no adapter in domain {domain!r}",), False)
        return Plan(tuple(members), tuple(f"ensemble member {i + 1}" for i in range(len(members))), False)
    # fallback
    chain: list[Adapter | None] = []
    reasons: list[str] = []
    first = active or (ranked[0] if ranked else None)
    if first is not None:
        chain.append(first)
        reasons.append("active adapter" + (" (router abstained)" if routing.abstained else ""))
        nxt = next((a for a in ranked if a.name != first.name), None)
        if nxt is not None:
            chain.append(nxt)
            reasons.append("next-ranked adapter")
    chain.append(None)
    reasons.append("base model")
    return Plan(tuple(chain), tuple(reasons), routing.abstained)


def _sum_timings(replies: Sequence[Reply]) -> dict[str, float]:
    return {
        "load_ms": sum(r.timings.load_ms for r in replies),
        "prompt_ms": sum(r.timings.prompt_ms for r in replies),
        "generate_ms": sum(r.timings.generate_ms for r in replies),
        "backend_ms": sum(r.timings.total_ms for r in replies),
    }


class Assistant:
    """Answers questions with a registry's adapters on one backend."""

    def __init__(
        self,
        registry: Registry,
        backend: Backend,
        router: Any = None,
        *,
        strategy: str = "best",
        votes: int = 1,
        reread: bool = True,
        min_agreement: float = MIN_AGREEMENT,
    ):
        if strategy not in STRATEGIES:
            raise InvalidInput(f"Unknown strategy {strategy!r}.", hint=f"Choose one of: {', '.join(STRATEGIES)}.")
        if votes < 1:
            raise InvalidInput("--votes must be at least 1.")
        self.registry = registry
        self.backend = backend
        self._router = router
        self.strategy = strategy
        self.votes = votes
        self.reread = reread
        self.min_agreement = min_agreement

    @property
    def router(self):
        """The router (loaded on first use)."""
        if self._router is None:
            from .router import get_router

            self._router = get_router(None, self.registry)
        return self._router

    # -- generation ---------------------------------------------------------

    def vote_options(self, options: dict[str, Any], n: int) -> list[dict[str, Any]]:
        """The options of each of ``n`` samples: with votes, a sampling
        temperature (VOTE_TEMPERATURE unless one is given) and seeds seed, seed+1, ..."""
        out = []
        for i in range(n):
            opts = dict(options)
            if n > 1:
                if not opts.get("temperature"):
                    opts["temperature"] = VOTE_TEMPERATURE
                opts["seed"] = int(opts.get("seed", 0)) + i
            out.append(opts)
        return out

    def first_targets(self, routing: Routing) -> list[Target]:
        """The targets that answer first for ``routing`` (all members of an ensemble;
        the first candidate otherwise: a fallback's later steps depend on its answers)."""
        p = plan(routing, self.registry, self.strategy)
        members = p.candidates if self.strategy == "ensemble" and len(p.candidates) > 1 else p.candidates[:1]
        return [Target.of(a) for a in members]

    def _generate(self, target: Target, messages: list[Message], options: dict[str, Any], n: int) -> tuple[str, list[Reply]]:
        model = self.backend.ensure(target)
        requests = [ChatRequest(model, messages, opts) for opts in self.vote_options(options, n)]
        if n > 1 and hasattr(self.backend, "chat_batch"):
            # the samples share their prompt: the embedded engine decodes it once
            return model, list(self.backend.chat_batch(requests))
        return model, [self.backend.chat(r.model, r.messages, options=r.options) for r in requests]

    # -- the main entry -----------------------------------------------------

    def decide(
        self,
        query: str,
        *,
        adapters: Sequence[tuple[str, float]] | None = None,
        domain: str | None = None,
        no_route: bool = False,
    ) -> Decision:
        """Which targets answer ``query`` and why, before anything is generated.

        ``adapters`` (names with scales), ``domain`` and ``no_route`` override
        the router, as in :meth:`ask`.
        """
        if not query or not query.strip():
            raise InvalidInput("The question is empty.", hint="Pass a question, or - to read it from stdin.")
        routing: Routing | None = None
        route_ms = 0.0
        if adapters:
            parts = tuple((self.registry.adapter(name), float(scale)) for name, scale in adapters)
            if len(parts) > 1 and any(a.type != "lora-gguf" for a, _ in parts):
                raise Unsupported(
                    "Only lora-gguf adapters can be combined with scales.",
                    hint="Name one adapter, or several lora-gguf adapters.",
                )
            return Decision((Target(parts),), ("chosen with --adapter",), False, parts[0][0].domain, None, 0.0)
        if no_route:
            return Decision((Target.base(),), ("--no-route",), False, None, None, 0.0)
        if domain is not None:
            routing = Routing(self.registry.check_domain(domain), 1.0, {domain: 1.0}, False, "override")
        else:
            r0 = time.perf_counter()
            routing = self.router.route(query)
            route_ms = (time.perf_counter() - r0) * 1000
        p = plan(routing, self.registry, self.strategy)
        candidates = tuple(Target.of(a) for a in p.candidates)
        return Decision(candidates, p.reasons, p.uncertain, routing.domain, routing, route_ms)

    def ask(
        self,
        query: str,
        *,
        system: str | None = None,
        options: dict[str, Any] | None = None,
        adapters: Sequence[tuple[str, float]] | None = None,
        domain: str | None = None,
        no_route: bool = False,
        history: Sequence[Message] = (),
        decision: Decision | None = None,
    ) -> Answer:
        """Answer ``query``. ``adapters`` (names with scales), ``domain`` and
        ``no_route`` override the router; ``history`` carries earlier chat turns;
        ``decision`` is one :meth:`decide` already made for this query."""
        if not query or not query.strip():
            raise InvalidInput("The question is empty.", hint="Pass a question, or - to read it from stdin.")
        options = dict(options or {})
        t0 = time.perf_counter()
        if decision is None:
            decision = self.decide(query, adapters=adapters, domain=domain, no_route=no_route)
        routing, route_ms = decision.routing, decision.route_ms
        candidates, reasons, uncertain = decision.candidates, decision.reasons, decision.uncertain
        chosen_domain = decision.domain

        kind = ANSWER_KINDS.get(chosen_domain or "", "text")
        messages = build_messages(query, system=system, reread=self.reread, history=history)
        all_replies: list[Reply] = []
        steps: list[Step] = []
        vote_info: dict[str, Any] | None = None
        final_text, final_target, final_model = "", candidates[0], ""
        final_thinking: str | None = None

        if self.strategy == "ensemble" and len(candidates) > 1:
            texts, owners, models, thoughts = [], [], [], []
            for target in candidates:
                model, replies = self._generate(target, messages, options, self.votes)
                all_replies += replies
                for r in replies:
                    texts.append(r.text)
                    owners.append(target)
                    models.append(model)
                    thoughts.append(r.thinking)
                steps.append(Step(target.label, reasons[len(steps)], replies[0].text))
            v = vote(texts, kind=kind, query=query)
            final_text, final_target, final_model = texts[v.index], owners[v.index], models[v.index]
            final_thinking = thoughts[v.index]
            vote_info = {**v.to_dict(), "members": [t.label for t in candidates]}
            for s in steps:
                s.accepted = s.adapter == final_target.label
        else:
            for i, target in enumerate(candidates):
                model, replies = self._generate(target, messages, options, self.votes)
                all_replies += replies
                v: Vote = vote([r.text for r in replies], kind=kind, query=query)
                step = Step(target.label if not target.is_base else None, reasons[i], replies[v.index].text)
                step.agreement = round(v.agreement, 3) if self.votes > 1 else None
                steps.append(step)
                final_text, final_target, final_model = replies[v.index].text, target, model
                final_thinking = replies[v.index].thinking
                vote_info = v.to_dict() if self.votes > 1 else None
                if self.strategy != "fallback":
                    step.accepted = True
                    break
                low_agreement = self.votes > 1 and v.agreement <= self.min_agreement
                abstained_first = i == 0 and routing is not None and routing.abstained
                if not low_agreement and not abstained_first:
                    step.accepted = True
                    break
            else:
                if steps:
                    steps[-1].accepted = True

        total_ms = (time.perf_counter() - t0) * 1000
        timings = {"route_ms": round(route_ms, 3), **{k: round(v, 3) for k, v in _sum_timings(all_replies).items()}, "total_ms": round(total_ms, 3)}
        tokens = {
            "prompt": sum(r.timings.prompt_tokens for r in all_replies),
            "output": sum(r.timings.output_tokens for r in all_replies),
        }
        return Answer(
            text=final_text,
            domain=chosen_domain,
            adapter=None if final_target.is_base else final_target.label,
            model=final_model,
            confidence=None if routing is None else round(routing.confidence, 4),
            uncertain=uncertain,
            backend=self.backend.name,
            strategy=self.strategy,
            votes=vote_info,
            timings=timings,
            tokens=tokens,
            steps=steps,
            routing=routing,
            thinking=final_thinking,
        )
