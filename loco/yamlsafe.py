"""Bounded YAML: every YAML file loco reads (registry, adapter index) goes through here.

A YAML file of a few hundred bytes can describe a tree of billions of nodes
with aliases (``&a [*b, *b, ...]``, the "billion laughs"); loading it is cheap,
but everything that walks the result (validation, search, copying into the
registry) then never ends. :func:`check` composes the text (no Python objects
are built) and counts the nodes of the tree as it would be after expanding
every alias, refusing more than :data:`MAX_NODES`, nesting deeper than
:data:`MAX_DEPTH`, recursive aliases and texts over :data:`MAX_BYTES`. PyYAML
loads use :func:`load`; ruamel round-trip loads call :func:`check` on the same
text first.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import InvalidInput

MAX_BYTES = 16 * 1024 * 1024
MAX_NODES = 1_000_000
MAX_DEPTH = 200


class YamlLimitError(InvalidInput):
    """A YAML file beyond loco's limits (size, expanded aliases, nesting)."""


def _loader_class(loader: type | None) -> type:
    return loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _expanded_size(root: yaml.Node, what: str) -> int:
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # Iterative walk (a deep file must not exhaust Python's stack).
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"{what} nests deeper than {MAX_DEPTH} levels; loco does not read it.", hint="Flatten the file.")
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        if key in sizes and not done:
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if done:
            active.discard(key)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise YamlLimitError(
                    f"{what} expands to more than {MAX_NODES:,} YAML nodes (aliases repeating aliases); loco does not read it.",
                    hint="Write the values out instead of nesting aliases, or fix the file.",
                )
            sizes[key] = total
            continue
        if key in active:
            raise YamlLimitError(f"{what} has an alias that contains itself; loco does not read it.", hint="Remove the recursive alias.")
        active.add(key)
        stack.append((node, depth, True))
        for child in children:
            if id(child) in active:
                raise YamlLimitError(f"{what} has an alias that contains itself; loco does not read it.", hint="Remove the recursive alias.")
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))
    return sizes[id(root)]


def check(text: str, what: str, loader: type | None = None) -> None:
    """Refuse ``text`` (named ``what`` in the message) when it is beyond the limits; YAMLError passes through."""
    if len(text) > MAX_BYTES:
        raise YamlLimitError(f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MiB; loco does not read it.", hint="Check that it is the right file.")
    inst = _loader_class(loader)(text)
    try:
        node = inst.get_single_node()
        if node is not None:
            _expanded_size(node, what)
    except RecursionError:
        raise YamlLimitError(f"{what} nests too deeply; loco does not read it.", hint="Flatten the file.") from None
    finally:
        inst.dispose()


def load(text: str, what: str, loader: type | None = None) -> Any:
    """``yaml.load`` with ``loader`` (default: the safe loader), within the limits of :func:`check`."""
    if len(text) > MAX_BYTES:
        raise YamlLimitError(f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MiB; loco does not read it.", hint="Check that it is the right file.")
    inst = _loader_class(loader)(text)
    try:
        node = inst.get_single_node()
        if node is None:
            return None
        _expanded_size(node, what)
        return inst.construct_document(node)
    except RecursionError:
        raise YamlLimitError(f"{what} nests too deeply; loco does not read it.", hint="Flatten the file.") from None
    finally:
        inst.dispose()
