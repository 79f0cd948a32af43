"""Shared pieces of the training tests: the default base model, loaded once per test process.

Reading the GGUF into transformers takes tens of seconds, so the first test
that needs the model loads it and later tests get a deep copy (PEFT changes
the model it wraps). The conversion cache lives in a private temporary
folder, never in a user's LOCO_HOME.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path

import pytest

for _module in ("torch", "transformers", "peft"):
    pytest.importorskip(_module, reason="the [train] extra (torch, transformers, peft) is not installed")

_CACHE = Path(tempfile.mkdtemp(prefix="loco-train-test-cache-"))


def cache_root() -> Path:
    """The conversion cache shared by the training tests of this process."""
    return _CACHE


@functools.lru_cache(maxsize=1)
def _loaded():
    import torch

    from loco.train import model

    torch.set_num_threads(1)  # a busy shared machine: one thread is faster than two fighting
    return model.load(model.resolve_base(None, None), device="cpu", cache_root=_CACHE)


def base():
    """A fresh copy of the default base model (``loco.train.model.Loaded``)."""
    loaded = _loaded()
    fresh = copy.copy(loaded)
    fresh.model = copy.deepcopy(loaded.model)
    return fresh


def link_cache(loco_home: Path) -> None:
    """Let ``loco train`` under ``loco_home`` find the already converted base model."""
    _loaded()
    target = loco_home / "cache" / "train-base"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(_CACHE, target_is_directory=True)
