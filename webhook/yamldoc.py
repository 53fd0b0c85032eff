"""YAML documents with the line of every node, so errors and findings can point into the file.

Parses with PyYAML's C loader and keeps each document's node tree beside its value (built by
`yamlbuild`). `kubernetes=True` reads scalars as the API server does: a timestamp or `=` stays
a string.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from webhook.yamlbounds import MAX_EXPANDED_NODES, check_bounds
from webhook.yamlbuild import (
    MAX_DEPTH,
    MAX_NODES,
    STR,
    Builder,
    KubernetesLoader,
    Loader,
    YAMLDocumentError,
    has_anchors,
    has_tags,
    translated,
)

__all__ = [
    "STR",
    "Builder",
    "YAMLDocument",
    "YAMLDocumentError",
    "iter_documents",
    "iter_nodes",
    "line_of",
    "load_documents",
    "pointer_tokens",
]


@dataclass(frozen=True, slots=True)
class YAMLDocument:
    index: int  # 0-based position of the document in its file
    value: Any
    node: yaml.Node | None

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1 if self.node is not None else 1

    def line_of(self, path: Sequence[str | int]) -> int:
        """Line of the deepest node that `path` (keys and indexes) reaches; the document's line."""
        return line_of(self.node, path) if self.node is not None else 1


def line_of(node: yaml.Node, path: Sequence[str | int]) -> int:
    current = node
    for step in path:
        child = _child(current, step)
        if child is None:
            break
        current = child
    return current.start_mark.line + 1


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        wanted = str(step)
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == wanted:
                found: yaml.Node = value
                return found
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        child: yaml.Node = node.value[step]
        return child
    return None


def pointer_tokens(pointer: str) -> list[str | int]:
    """JSON Pointer -> keys and indexes, for `line_of`."""
    tokens: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        tokens.append(int(token) if token.isdigit() else token)
    return tokens


def iter_nodes(
    text: str, *, kubernetes: bool = False, max_nodes: int | None = None
) -> Iterator[tuple[int, yaml.Node, Builder]]:
    """Yield (index, node, builder) for every document of `text`; build values with the builder
    before the next step. Raises YAMLDocumentError with the line.

    A text with anchors, or any text when `max_nodes` is given, is first scanned for bounds
    with aliases counted expanded (`yamlbounds`)."""
    loader = KubernetesLoader(text) if kubernetes else Loader(text)
    anchors = has_anchors(text)
    # Fewer characters than MAX_NODES: no document can have that many nodes to build.
    simple = not anchors and len(text) < MAX_NODES and not has_tags(text)
    index = 0
    try:
        if anchors or max_nodes is not None:
            check_bounds(text, max_nodes=max_nodes or MAX_EXPANDED_NODES)
        while loader.check_node():
            loader.start_document()
            node = loader.get_node()
            if node is not None:
                plain = simple and not loader.unusual
                yield index, node, Builder(loader, anchors=anchors, plain=plain)
            index += 1
    except yaml.MarkedYAMLError as error:
        raise translated(error) from None
    except yaml.YAMLError as error:
        raise YAMLDocumentError(str(error)) from None
    except RecursionError:
        raise YAMLDocumentError(f"document nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def iter_documents(
    text: str, *, kubernetes: bool = False, max_nodes: int | None = None
) -> Iterator[YAMLDocument]:
    """Yield every non-empty document of `text`; raises YAMLDocumentError with the line."""
    for index, node, builder in iter_nodes(text, kubernetes=kubernetes, max_nodes=max_nodes):
        value = builder.build(node)
        if value is not None:
            yield YAMLDocument(index=index, value=value, node=node)


def load_documents(
    text: str, *, kubernetes: bool = False, max_nodes: int | None = None
) -> list[YAMLDocument]:
    return list(iter_documents(text, kubernetes=kubernetes, max_nodes=max_nodes))
