"""Shared fixtures: every test runs with LOCO_HOME in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("loco-home")
    monkeypatch.setenv("LOCO_HOME", str(home))
    monkeypatch.delenv("LOCO_REGISTRY", raising=False)
    monkeypatch.delenv("LOCO_BACKEND", raising=False)
    yield home


@pytest.fixture
def repo() -> Path:
    """The repository root (for the shipped registry, evals and examples)."""
    return REPO


@pytest.fixture(scope="session")
def vcr_config(pytestconfig):
    # Never let a cassette test reach anything but what was recorded, unless
    # --record-mode on the command line asks to record (make test-live).
    mode = pytestconfig.getoption("--record-mode", default=None) or "none"
    return {"record_mode": mode, "filter_headers": ["authorization"], "decode_compressed_response": True}


PROMPT_ADAPTERS = {"math": "math-tutor", "code": "code-helper", "writing": "writing-coach", "summarisation": "summariser"}


@pytest.fixture
def prompt_library(tmp_path, repo) -> Path:
    """A copy of the shipped registry whose four prompt adapters are the active ones.

    The shipped library has no active adapter (none beats the base model on its
    benchmark); routing tests that need an adapter per domain use this copy.
    """
    import yaml

    doc = yaml.safe_load((repo / "registry.yaml").read_text(encoding="utf-8"))
    for name, spec in doc["adapters"].items():
        spec["active"] = PROMPT_ADAPTERS.get(spec["domain"]) == name
        spec.pop("pinned", None)
    folder = tmp_path / "prompt-library"
    folder.mkdir()
    path = folder / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    for name in ("adapters", "evals", "modelfiles"):
        (folder / name).symlink_to(repo / name)
    return path
