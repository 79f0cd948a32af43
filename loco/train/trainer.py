"""The LoRA training loop (PEFT on transformers; CPU here, CUDA when present).

A plain loop rather than transformers' Trainer: it needs no extra packages,
stops cleanly on a step or wall-clock budget, and reports each step's loss to
a callback (the CLI draws a progress bar from it).

Batches group examples of similar length (shuffled within windows of a few
batches) so little time goes to padding; the loss is the mean cross-entropy
over the answer tokens of the batch. AdamW, linear warm-up over the first
ten steps, then linear decay to zero at the planned last step.

With ``--max-minutes`` the plan is fitted to the budget: at the end of the
warm-up the measured speed sets the last step (so the learning rate still decays to
zero in time), and that step count is recorded. Rerunning with
``--max-steps <that count>`` repeats the run exactly, whatever the machine's
speed; if the machine slowed down and the deadline still came first, the log
adds ``--stop-after <steps done>``, which ends the run there without
changing its schedule.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from ..errors import InvalidInput
from .data import IGNORE_INDEX, Encoded

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
WARMUP_STEPS = 10
REPLAN_AT = WARMUP_STEPS  # a time budget fixes the plan when warm-up ends, which the plan does not change
BUDGET_SHARE = 0.9  # of --max-minutes planned for training steps
SORT_WINDOW = 16  # batches per window of length-sorting


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA and optimisation settings of one run (the CLI's options)."""

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    epochs: float = 1.0
    max_steps: int | None = None
    max_minutes: float | None = None
    stop_after: int | None = None
    learning_rate: float = 2e-4
    max_length: int = 512
    batch_size: int = 4
    seed: int = 42

    def check(self) -> None:
        """Raise InvalidInput for values that cannot train."""
        problems = []
        if self.r < 1:
            problems.append("--rank must be at least 1")
        if self.alpha <= 0:
            problems.append("--alpha must be positive")
        if not 0 <= self.dropout < 1:
            problems.append("--dropout must be in [0, 1)")
        if not self.target_modules:
            problems.append("--target-modules must name at least one module")
        if self.epochs <= 0:
            problems.append("--epochs must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append("--max-steps must be at least 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            problems.append("--max-minutes must be positive")
        if self.stop_after is not None and self.stop_after < 1:
            problems.append("--stop-after must be at least 1")
        if self.learning_rate <= 0:
            problems.append("--learning-rate must be positive")
        if self.max_length < 16:
            problems.append("--max-length must be at least 16")
        if self.batch_size < 1:
            problems.append("--batch-size must be at least 1")
        if problems:
            raise InvalidInput("Invalid training settings: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class Step:
    """One optimisation step as reported to the progress callback."""

    step: int
    total: int
    loss: float
    learning_rate: float
    elapsed_s: float
    epoch: float


@dataclass
class TrainOutcome:
    """What a run did."""

    steps: int
    planned_steps: int
    stop_reason: str  # "completed" (all epochs), "max_steps", "time_budget" (a plan fitted to
    # --max-minutes, completed), "max_minutes" (the deadline cut the plan short), "stop_after"
    losses: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens_seen: int = 0
    answer_tokens: int = 0
    examples_seen: int = 0  # distinct examples trained on
    epochs_done: float = 0.0
    trainable_parameters: int = 0


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def attach_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap ``model`` with a fresh LoRA (PEFT) of ``settings``; only the LoRA trains.

    The LoRA's random initialisation is seeded with ``settings.seed``.
    """
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    unknown = [m for m in settings.target_modules if m not in present]
    if unknown:
        raise InvalidInput(
            f"The base model has no module named {', '.join(unknown)}.",
            hint="Typical names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.",
        )
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    set_seed(settings.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notices from inside peft
        return get_peft_model(model, config)


def batches(encoded: Sequence[Encoded], batch_size: int, rng: random.Random) -> list[list[Encoded]]:
    """One epoch of batches: shuffled, then sorted by length within windows, then shuffled again."""
    order = list(encoded)
    rng.shuffle(order)
    window = batch_size * SORT_WINDOW
    out: list[list[Encoded]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda e: len(e.input_ids))
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def collate(batch: Sequence[Encoded], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded tensors for one batch (padding masked out of attention and loss)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def answer_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """Mean cross-entropy over the answer tokens of a batch.

    Only positions from the earliest answer token on go through the output
    layer (``logits_to_keep``): with a 49k-token vocabulary that layer is a
    large share of the work, and the prompt's logits carry no loss.
    """
    import torch

    labels = inputs["labels"]
    width = labels.shape[1]
    answer = (labels != IGNORE_INDEX).any(dim=0).nonzero()
    first = max(1, int(answer[0])) if len(answer) else 1
    keep = width - (first - 1)  # logits at position t predict token t + 1
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], logits_to_keep=keep).logits
    targets = labels[:, width - keep + 1 :]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1, :].float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX
    )


def planned_steps(n_examples: int, settings: LoraSettings) -> int:
    """Steps the run plans: ``--max-steps`` if given, else epochs x batches per epoch."""
    per_epoch = math.ceil(n_examples / settings.batch_size)
    by_epochs = max(1, math.ceil(per_epoch * settings.epochs))
    return min(by_epochs, settings.max_steps) if settings.max_steps else by_epochs


def train(
    peft_model: Any,
    encoded: Sequence[Encoded],
    settings: LoraSettings,
    *,
    pad_id: int,
    device: str = "cpu",
    on_step: Callable[[Step], None] | None = None,
) -> TrainOutcome:
    """Train the LoRA of ``peft_model`` on ``encoded`` within the step and time budgets."""
    import torch

    if not encoded:
        raise InvalidInput("There is nothing to train on.")
    set_seed(settings.seed)
    rng = random.Random(settings.seed)
    total = planned_steps(len(encoded), settings)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)

    def lr_at(step: int) -> float:  # step counts from 1
        warmup = min(WARMUP_STEPS, total)
        if step <= warmup:
            return settings.learning_rate * step / warmup
        return settings.learning_rate * max(0.0, (total - step) / max(1, total - warmup))

    outcome = TrainOutcome(steps=0, planned_steps=total, stop_reason="completed")
    outcome.trainable_parameters = sum(p.numel() for p in params)
    per_epoch = math.ceil(len(encoded) / settings.batch_size)
    deadline = None if settings.max_minutes is None else time.monotonic() + settings.max_minutes * 60
    t0 = time.monotonic()
    first_step_end = t0
    seen: set[str] = set()
    peft_model.train()
    step = 0
    epoch = 0
    while step < total:
        for batch in batches(encoded, settings.batch_size, rng):
            if step >= total:
                break
            step += 1
            lr = lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs = collate(batch, pad_id, device)
            loss = answer_loss(peft_model, inputs)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach().cpu())
            if not math.isfinite(value):
                from ..errors import GenerationError

                raise GenerationError(
                    f"Training diverged at step {step} (loss {value}).",
                    hint="Lower --learning-rate, or check the data.",
                )
            elapsed = time.monotonic() - t0
            if step == 1:
                first_step_end = time.monotonic()
            if deadline is not None and step == REPLAN_AT and total > REPLAN_AT:
                per_step = (time.monotonic() - first_step_end) / (REPLAN_AT - 1)
                budget = settings.max_minutes * 60 * BUDGET_SHARE - elapsed  # type: ignore[operator]
                fits = step + int(budget / max(per_step, 1e-6))
                total = max(step, min(total, max(fits, WARMUP_STEPS)))
                outcome.planned_steps = total
            outcome.tokens_seen += int(inputs["attention_mask"].sum())
            outcome.answer_tokens += sum(e.answer_tokens for e in batch)
            seen.update(e.id for e in batch)
            outcome.examples_seen = len(seen)
            ep = epoch + (step - epoch * per_epoch) / per_epoch
            outcome.losses.append({"step": step, "loss": round(value, 5), "lr": lr, "elapsed_s": round(elapsed, 2)})
            outcome.steps = step
            outcome.epochs_done = round(min(ep, settings.epochs), 4)
            if on_step is not None:
                on_step(Step(step, total, value, lr, elapsed, ep))
            if deadline is not None and time.monotonic() >= deadline and step < total:
                outcome.stop_reason = "max_minutes"
                break
            if settings.stop_after is not None and step >= settings.stop_after and step < total:
                outcome.stop_reason = "stop_after"
                break
        if outcome.stop_reason in ("max_minutes", "stop_after"):
            break
        epoch += 1
    if outcome.stop_reason == "completed" and total < planned_steps(len(encoded), replace(settings, max_steps=None)):
        outcome.stop_reason = "max_steps" if total == settings.max_steps else "time_budget"
    outcome.train_seconds = round(time.monotonic() - t0, 2)
    peft_model.eval()
    return outcome
