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
