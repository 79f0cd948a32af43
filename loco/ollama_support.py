"""What each Ollama server version can do for loco, from Ollama's own source.

Every fact here names the file of ollama/ollama it was read from and the
release it first holds at; :data:`ENGINE_ROWS` is the history of
``OllamaEngineRequired`` in ``fs/ggml/ggml.go``, one row per range of
releases with the same list.

LoRA adapters (``ADAPTER`` / the create API's ``adapters``):

- up to 0.5.x every GGUF model runs on the llama.cpp runner, which loads
  LoRA adapters;
- from 0.6.0 to 0.24.x (and their release candidates, up to 0.30.0-rcN) the
  architectures in ``OllamaEngineRequired`` run on Ollama's own engine, whose
  runner refuses adapters at load time (``runner/ollamarunner/runner.go``:
  ``panic("loras are not yet implemented")`` at v0.6.0, an error with the
  same words at v0.24.0), so a LoRA tag of such a model is created but fails
  at its first request. ``OLLAMA_NEW_ENGINE`` (``envconfig/config.go``, from
  0.5.12) puts every architecture on that engine (``llm/server.go``:
  ``envconfig.NewEngine() || f.KV().OllamaEngineRequired()``);
- from 0.30.0 GGUF models run on llama-server and an adapter is passed as
  ``--lora`` (``llm/llama_server.go``), for every architecture; one
  ``ADAPTER`` per model (``server/create.go``: "only one adapter is currently
  supported").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

Version = tuple[int, int, int, int]  # (major, minor, patch, 1 for a release / 0 for a pre-release)


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """``"0.12.6"`` -> ``(0, 12, 6)``; pre-release suffixes are ignored; None if unreadable
    or ``0.0.0`` (a development build)."""
    key = version_key(text)
    return None if key is None else key[:3]


def version_key(text: str | None) -> Version | None:
    """A sortable key in which a release candidate comes before its release:
    ``"0.30.0-rc3"`` -> ``(0, 30, 0, 0)`` < ``"0.30.0"`` -> ``(0, 30, 0, 1)``."""
    if not text:
        return None
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?(-[0-9A-Za-z.-]+)?", str(text))
    if not m:
        return None
    key = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), 0 if m.group(4) else 1
    # A build from source without a release version says 0.0.0 (version/version.go): unknown.
    return None if key[:3] == (0, 0, 0) else key


def _release(text: str) -> Version:
    key = version_key(text)
    assert key is not None
    return key


def shown(text: str | None) -> str:
    """A version as people write it (``0.12.6``, ``0.30.0-rc3``)."""
    m = re.match(r"\s*v?([0-9][0-9A-Za-z.+-]*)", str(text or ""))
    return m.group(1) if m else str(text)


#: Server features loco uses, and the first release that has them.
FEATURES = {
    # POST /api/create with JSON fields (files, adapters, from): api/types.go CreateRequest.Files, v0.5.5.
    "create_json": "0.5.5",
    # The top-level think field of chat and generate: api/types.go ChatRequest.Think, v0.9.0.
    "think": "0.9.0",
    # Chat and generate think by default on thinking models: server/routes.go ChatHandler, v0.12.4.
    "think_by_default": "0.12.4",
    # logprobs / top_logprobs on chat and generate: api/types.go ChatRequest.Logprobs, v0.12.11.
    "logprobs": "0.12.11",
}


def supports(version: str | None, feature: str) -> bool:
    """Whether a server of ``version`` has ``feature`` (False when the version is unknown)."""
    key = version_key(version)
    return key is not None and key >= _release(FEATURES[feature])


@dataclass(frozen=True)
class EngineRow:
    """Releases ``first`` (inclusive) to ``until`` (exclusive) ran ``architectures`` on Ollama's
    own engine, which has no LoRA support; ``proof`` is the release and commit of ollama/ollama
    whose ``fs/ggml/ggml.go`` ``OllamaEngineRequired`` lists them."""

    first: str
    until: str
    proof: str
    architectures_text: str

    @property
    def architectures(self) -> frozenset[str]:
        return frozenset(self.architectures_text.split())

    def covers(self, key: Version) -> bool:
        return _release(self.first) <= key < _release(self.until)


#: ``OllamaEngineRequired`` in fs/ggml/ggml.go at each release where the list changed.
ENGINE_ROWS: tuple[EngineRow, ...] = (
    EngineRow("0.6.0", "0.6.5", "v0.6.0 (aee28501b)", "gemma3"),
    EngineRow("0.6.5", "0.6.7", "v0.6.5 (0f3f9e353)", "gemma3 mistral3"),
    EngineRow("0.6.7", "0.7.0", "v0.6.7 (a7835c671)", "gemma3 llama4 mistral3"),
    EngineRow("0.7.0", "0.9.3", "v0.7.0 (bd68d3ae5)", "gemma3 llama4 mistral3 mllama qwen25vl"),
    EngineRow("0.9.3", "0.11.0", "v0.9.3 (ba0490267)", "gemma3 gemma3n llama4 mistral3 mllama qwen25vl"),
    EngineRow("0.11.0", "0.11.5", "v0.11.0 (d55206841)", "gemma3 gemma3n gptoss llama4 mistral3 mllama qwen25vl"),
    EngineRow("0.11.5", "0.12.0", "v0.11.5 (f804e8a46)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl"),
    EngineRow("0.12.0", "0.12.2", "v0.12.0 (9f3a37fd3)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3"),
    EngineRow("0.12.2", "0.12.5", "v0.12.2 (2e742544b)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3 qwen3moe"),
    EngineRow("0.12.5", "0.12.6", "v0.12.5 (3d32249c7)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3moe"),
    EngineRow("0.12.6", "0.12.7", "v0.12.6 (1813ff85a)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3 qwen3moe"),
    EngineRow("0.12.7", "0.13.0", "v0.12.7 (c88647104)", "gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.13.0", "0.13.1", "v0.13.0 (604e43b28)", "deepseek2 deepseekocr gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.13.1", "0.13.4", "v0.13.1 (5317202c3)", "deepseek2 deepseekocr gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama nomic-bert qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.13.4", "0.13.5", "v0.13.4 (89eb79529)", "deepseek2 deepseekocr gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama nomic-bert olmo3 qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.13.5", "0.14.3", "v0.13.5 (732579159)", "bert deepseek2 deepseekocr gemma3 gemma3n gpt-oss gptoss llama4 mistral3 mllama nomic-bert olmo3 qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.14.3", "0.15.5", "v0.14.3 (d6dd430ab)", "bert deepseek2 deepseekocr gemma3 gemma3n glm4moelite gpt-oss gptoss lfm2 llama4 mistral3 mllama nomic-bert olmo3 qwen25vl qwen3 qwen3moe qwen3vl qwen3vlmoe"),
    EngineRow("0.15.5", "0.17.1", "v0.15.5 (8a4b77f9d)", "bert deepseek2 deepseekocr gemma3 gemma3n glm4moelite glmocr gpt-oss gptoss lfm2 llama4 mistral3 mllama nomic-bert olmo3 qwen25vl qwen3 qwen3moe qwen3next qwen3vl qwen3vlmoe"),
    EngineRow("0.17.1", "0.20.0", "v0.17.1 (9bf41969f)", "bert deepseek2 deepseekocr gemma3 gemma3n glm4moelite glmocr gpt-oss gptoss lfm2 lfm2moe llama4 mistral3 mllama nemotron_h nemotron_h_moe nomic-bert olmo3 qwen25vl qwen3 qwen35 qwen35moe qwen3moe qwen3next qwen3vl qwen3vlmoe"),
    EngineRow("0.20.0", "0.22.0", "v0.20.0 (de9673ac3)", "bert deepseek2 deepseekocr gemma3 gemma3n gemma4 glm4moelite glmocr gpt-oss gptoss lfm2 lfm2moe llama4 mistral3 mllama nemotron_h nemotron_h_moe nomic-bert olmo3 qwen25vl qwen3 qwen35 qwen35moe qwen3moe qwen3next qwen3vl qwen3vlmoe"),
    EngineRow("0.22.0", "0.30.0", "v0.22.0 (955112e50)", "bert deepseek2 deepseekocr gemma3 gemma3n gemma4 glm4moelite glmocr gpt-oss gptoss laguna lfm2 lfm2moe llama4 mistral3 mllama nemotron_h nemotron_h_moe nemotron_h_omni nomic-bert olmo3 qwen25vl qwen3 qwen35 qwen35moe qwen3moe qwen3next qwen3vl qwen3vlmoe"),
)

#: The first release whose engine loads LoRA adapters for every architecture
#: (llm/llama_server.go passes ``--lora``).
LORA_EVERYWHERE = "0.30.0"
#: The first release with OLLAMA_NEW_ENGINE (envconfig/config.go).
NEW_ENGINE_SWITCH = "0.5.12"


def new_engine_forced(value: str | None = None) -> bool:
    """``OLLAMA_NEW_ENGINE`` as Ollama reads it (envconfig ``Bool``: unset or empty is off,
    a value ``strconv.ParseBool`` cannot read is on). loco reads its own environment,
    which is the server's when both run in one shell."""
    raw = os.environ.get("OLLAMA_NEW_ENGINE", "") if value is None else value
    raw = raw.strip().strip("\"'")
    if not raw:
        return False
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return True


def engine_row(version: str | None) -> EngineRow | None:
    """The row of :data:`ENGINE_ROWS` that covers ``version`` (None outside 0.6.0–0.30.0-rcN)."""
    key = version_key(version)
    if key is None:
        return None
    return next((row for row in ENGINE_ROWS if row.covers(key)), None)


def lora_problem(version: str | None, architecture: str | None, adapter: str | None = None, new_engine: bool | None = None) -> str | None:
    """Why a server of ``version`` cannot serve a LoRA adapter on a base of ``architecture``,
    or None when it can or loco cannot tell (unknown version or architecture)."""
    key = version_key(version)
    if key is None or key >= _release(LORA_EVERYWHERE):
        return None
    forced = new_engine_forced() if new_engine is None else new_engine
    arch = (architecture or "").strip().lower()
    row = engine_row(version)
    why = None
    if forced and key >= _release(NEW_ENGINE_SWITCH):
        why = "with OLLAMA_NEW_ENGINE set it runs every model on its own engine"
    elif row is not None and arch and arch in row.architectures:
        why = f"it runs {arch} models on its own engine (fs/ggml/ggml.go, OllamaEngineRequired)"
    if why is None:
        return None
    name = adapter or "NAME"
    return (
        f"Ollama {shown(version)} would create this LoRA model, but it fails at the first request: "
        f"{why}, which has no LoRA support. Use Ollama {LORA_EVERYWHERE} or later, "
        f"merge the adapter (`loco adapters merge {name} --name {name}-merged`), or use --backend embedded."
    )
