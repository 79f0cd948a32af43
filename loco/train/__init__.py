"""Training LoRA adapters: data, the training loop, GGUF export, the training log.

``loco train`` is a thin edge over :func:`run`. Importing this package is
cheap; torch, transformers and peft (the ``[train]`` extra) load only when a
run starts.
"""

from __future__ import annotations

from .job import TrainRequest, command_line, current_semester, run
from .trainer import DEFAULT_TARGETS, LoraSettings, Step

__all__ = ["DEFAULT_TARGETS", "LoraSettings", "Step", "TrainRequest", "command_line", "current_semester", "run"]
