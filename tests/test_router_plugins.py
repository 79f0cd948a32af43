"""Choosing a router: defaults, built-ins, a third-party router through a real entry point."""

from __future__ import annotations

import textwrap

import pytest

from loco import registry
from loco.errors import InvalidInput, RouterError
from loco.router import available, get_router
from loco.router.keyword import KeywordRouter
from loco.router.tfidf import TfidfRouter

REGISTRY = """\
schema_version: 2
{router}
adapters:
  maths:
    domain: math
    type: prompt
    active: true
    system: "s"
    router_keywords: [how many]
"""


def make_registry(tmp_path, router_line: str = ""):
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY.format(router=router_line), encoding="utf-8")
    return registry.load(path)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install a distribution 'loco-echo-router' with a loco.routers entry point, the real way:
    a package and its *.dist-info directory on sys.path, found by importlib.metadata."""
    site = tmp_path / "site"
    pkg = site / "echo_router"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(
        """
        from loco.router.base import Routing

        class EchoRouter:
            name = "echo"

            def __init__(self, registry):
                self.domains = sorted({a.domain for a in registry.adapters.values()})

            def route(self, query):
                domain = self.domains[0] if "please" in query else None
                scores = {d: (1.0 if d == domain else 0.0) for d in self.domains}
                scores["none"] = 0.0 if domain else 1.0
                return Routing(domain=domain, confidence=1.0, scores=scores, abstained=False, router=self.name)

        def make(registry):
            return EchoRouter(registry)

        def broken(registry):
            raise ValueError("no model here")

        def no_route(registry):
            return object()
        """
    ), encoding="utf-8")
    info = site / "loco_echo_router-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loco-echo-router\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[loco.routers]\necho = echo_router:make\nbroken = echo_router:broken\nnot-a-router = echo_router:no_route\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    yield site


def test_entry_point_router_is_found_and_used(plugin, tmp_path):
    reg = make_registry(tmp_path)
    assert {"echo", "broken"} <= set(available())
    router = get_router("echo", reg)
    assert router.name == "echo"
    assert router.route("please help").domain == "math"
    assert router.route("hello").domain is None


def test_registry_router_field_selects_the_plugin(plugin, tmp_path):
    reg = make_registry(tmp_path, "router: echo")
    assert get_router(None, reg).name == "echo"


def test_broken_plugins_fail_cleanly(plugin, tmp_path):
    reg = make_registry(tmp_path)
    with pytest.raises(RouterError, match="failed to load: no model here"):
        get_router("broken", reg)
    with pytest.raises(RouterError, match="no route"):
        get_router("not-a-router", reg)


def test_unknown_router_lists_the_available_ones(plugin, tmp_path):
    reg = make_registry(tmp_path)
    with pytest.raises(InvalidInput) as err:
        get_router("nonesuch", reg)
    assert "keyword" in err.value.hint and "tfidf" in err.value.hint and "echo" in err.value.hint
    assert err.value.exit_code == 2


def test_default_is_tfidf_when_its_model_exists_else_keyword(tmp_path, monkeypatch):
    reg = make_registry(tmp_path)
    assert isinstance(get_router(None, reg).inner, TfidfRouter)  # the repository's shipped model
    monkeypatch.setenv("LOCO_ROUTER_MODEL", str(tmp_path / "absent.json"))
    assert isinstance(get_router(None, reg).inner, KeywordRouter)
    with pytest.raises(RouterError) as err:
        get_router("tfidf", reg)
    assert "loco router train" in err.value.hint


def test_model_next_to_the_registry_is_preferred(tmp_path, repo):
    reg = make_registry(tmp_path)
    local = tmp_path / "evals" / "router" / "model.json"
    local.parent.mkdir(parents=True)
    local.write_bytes((repo / "evals" / "router" / "model.json").read_bytes())
    assert get_router("tfidf", reg).model_path == local
