"""YAML documents with the line of every node, so errors and findings can point into the file.

Parses with PyYAML's safe loader (C-accelerated when available) and keeps each document's node
tree beside its value. Alias expansion and nesting are bounded, so a hostile file ("billion
laughs") fails with a clear error instead of exhausting memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - the pure loader behaves the same, only slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_ALIASES = 100
MAX_DEPTH = 100
MAX_NODES = 2_000_000


class YAMLDocumentError(ValueError):
    """The text is not acceptable YAML; `line` is 1-based when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


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
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(step):
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


def _check_bounds(node: yaml.Node) -> None:
    aliases = 0
    nodes = 0
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise YAMLDocumentError(f"document has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise YAMLDocumentError(
                f"document nests deeper than {MAX_DEPTH} levels", current.start_mark.line + 1
            )
        if id(current) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise YAMLDocumentError(
                    f"document uses more than {MAX_ALIASES} aliases (an alias bomb?)",
                    current.start_mark.line + 1,
                )
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)


def _bad_scalar_line(node: yaml.Node) -> int:
    """The line of the first scalar that cannot be constructed (the document's if none)."""
    constructor = _Loader("")
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            try:
                constructor.construct_object(current, deep=True)
            except ValueError:
                return current.start_mark.line + 1
        elif isinstance(current, yaml.MappingNode):
            stack.extend(child for pair in reversed(current.value) for child in reversed(pair))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
    return node.start_mark.line + 1


def iter_documents(text: str) -> Iterator[YAMLDocument]:
    """Yield every non-empty document of `text`; raises YAMLDocumentError with the line."""
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                index += 1
                continue
            _check_bounds(node)
            try:
                value = loader.construct_document(node)
            except ValueError as error:  # e.g. a timestamp such as 2027-02-30
                raise YAMLDocumentError(f"invalid value: {error}", _bad_scalar_line(node)) from None
            if value is not None:
                yield YAMLDocument(index=index, value=value, node=node)
            index += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise YAMLDocumentError(reason or str(error), line) from None
    except yaml.YAMLError as error:
        raise YAMLDocumentError(str(error)) from None
    except RecursionError:
        raise YAMLDocumentError(f"document nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def load_documents(text: str) -> list[YAMLDocument]:
    return list(iter_documents(text))
