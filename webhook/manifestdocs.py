"""The documents of one manifest file, YAML or a JSON stream, as candidate objects with lines.

`kind: List` and typed lists (`PodList`, as the API returns them) are unpacked into their items.
YAML keeps the node tree so a field's line can be found; JSON is decoded with the standard
library and its lines are found on demand. Objects whose kind is not `wanted` are built down to
apiVersion, kind and metadata only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from webhook.yamlbuild import MAX_DEPTH
from webhook.yamldoc import STR, Builder, YAMLDocumentError, iter_nodes, line_of

OBJECT_KEYS = frozenset({"apiVersion", "kind", "metadata"})
TEMPLATE_HINT = (
    " (this looks like an unrendered template: check the output of helm template or "
    "kustomize build instead)"
)
_JSON = json.JSONDecoder()
_SPACE = " \t\r\n"

Path = Sequence[str | int]


class Locator(Protocol):
    def line_of(self, path: Path) -> int:
        """The 1-based line of the field at `path`, or of its nearest parent that exists."""


@dataclass(frozen=True, slots=True)
class NodeLocator:
    node: yaml.Node

    def line_of(self, path: Path) -> int:
        return line_of(self.node, path)


@dataclass(frozen=True, slots=True)
class FixedLocator:
    line: int

    def line_of(self, path: Path) -> int:
        return self.line


@dataclass(slots=True)
class _LazyJSONNode:
    """One JSON document's text, composed as YAML (which JSON is) only when a line is asked."""

    text: str
    first_line: int
    node: yaml.Node | None = None
    failed: bool = False

    def line_of(self, path: Path) -> int:
        if self.node is None and not self.failed:
            try:
                self.node = next(iter_nodes(self.text))[1]
            except (YAMLDocumentError, StopIteration):
                self.failed = True  # e.g. tabs, which JSON allows and YAML does not
        if self.node is None:
            return self.first_line
        return self.first_line + line_of(self.node, path) - 1


@dataclass(frozen=True, slots=True)
class JSONLocator:
    document: _LazyJSONNode
    prefix: tuple[str | int, ...] = ()

    def line_of(self, path: Path) -> int:
        return self.document.line_of([*self.prefix, *path])


@dataclass(frozen=True, slots=True)
class FoundObject:
    value: Any
    document: int  # 0-based index of the document in its file
    where: str  # how an error names it: "document 2" or "document 1, items[3]"
    locator: Locator


@dataclass(slots=True)
class Documents:
    objects: list[FoundObject] = field(default_factory=list)
    errors: list[tuple[str, int | None]] = field(default_factory=list)  # (reason, line)


def read_documents(text: str, *, wanted: Callable[[str], bool] | None = None) -> Documents:
    """Every candidate object of `text`; a parse error ends the file with an error entry."""
    documents = Documents()
    if text.lstrip(_SPACE)[:1] in ("{", "[") and _read_json(text, documents):
        return documents
    _read_yaml(text, documents, wanted)
    return documents


def _read_json(text: str, documents: Documents) -> bool:
    """Read a stream of JSON values; False (nothing read) when the first is no JSON, which
    leaves the text to the YAML reader (`{a: 1}` is flow-style YAML)."""
    position = len(text) - len(text.lstrip(_SPACE))
    line = 1 + text.count("\n", 0, position)
    index = 0
    while position < len(text):
        try:
            value, end = _JSON.raw_decode(text, position)
        except json.JSONDecodeError as error:
            if index == 0:
                return False
            documents.errors.append((f"invalid JSON: {error.msg}", error.lineno))
            return True
        except RecursionError:
            documents.errors.append((f"document nests deeper than {MAX_DEPTH} levels", line))
            return True
        lazy = _LazyJSONNode(text[position:end], line)
        _add_value(value, index, JSONLocator(lazy), documents)
        line += text.count("\n", position, end)
        position = end
        while position < len(text) and text[position] in _SPACE:
            line += text[position] == "\n"
            position += 1
        index += 1
    return True


def _add_value(value: Any, index: int, locator: JSONLocator, documents: Documents) -> None:
    where = f"document {index + 1}"
    kind = value.get("kind") if isinstance(value, dict) else None
    items = value.get("items") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        inherited = _inherited(value.get("apiVersion"), kind)
        for position, item in enumerate(items):
            if inherited and isinstance(item, dict):
                item = {**inherited, **item}
            documents.objects.append(
                FoundObject(
                    item,
                    index,
                    f"{where}, items[{position}]",
                    JSONLocator(locator.document, ("items", position)),
                )
            )
        return
    documents.objects.append(FoundObject(value, index, where, locator))


def _inherited(api_version: Any, list_kind: str) -> dict[str, str]:
    """What items of a typed list (`PodList`) lack: the API leaves their kind out."""
    if list_kind == "List" or not isinstance(api_version, str):
        return {}
    return {"apiVersion": api_version, "kind": list_kind.removesuffix("List")}


def _read_yaml(text: str, documents: Documents, wanted: Callable[[str], bool] | None) -> None:
    try:
        for index, node, builder in iter_nodes(text, kubernetes=True):
            where = f"document {index + 1}"
            if not isinstance(node, yaml.MappingNode):
                value = builder.build(node)
                if value is not None:  # an empty document is no error
                    documents.objects.append(FoundObject(value, index, where, NodeLocator(node)))
                continue
            kind = _scalar(node, "kind")
            items = _child(node, "items")
            if kind is not None and kind.endswith("List") and isinstance(items, yaml.SequenceNode):
                inherited = _inherited(_scalar(node, "apiVersion"), kind)
                for position, item in enumerate(items.value):
                    item_where = f"{where}, items[{position}]"
                    _add_node(item, index, item_where, builder, wanted, inherited, documents)
                continue
            _add_node(node, index, where, builder, wanted, {}, documents)
    except YAMLDocumentError as error:
        reason = f"invalid YAML: {error.reason}"
        documents.errors.append((reason + TEMPLATE_HINT if "{{" in text else reason, error.line))


def _add_node(
    node: yaml.Node,
    index: int,
    where: str,
    builder: Builder,
    wanted: Callable[[str], bool] | None,
    inherited: dict[str, str],
    documents: Documents,
) -> None:
    kind = (
        _scalar(node, "kind") or inherited.get("kind")
        if isinstance(node, yaml.MappingNode)
        else None
    )
    if (
        wanted is not None
        and kind is not None
        and isinstance(node, yaml.MappingNode)
        and not wanted(kind)
    ):
        builder.check(node)
        value: Any = builder.build_keys(node, OBJECT_KEYS)
        locator: Locator = FixedLocator(node.start_mark.line + 1)
        documents.objects.append(FoundObject({**inherited, **value}, index, where, locator))
        return
    value = builder.build(node)
    if inherited and isinstance(value, dict):
        value = {**inherited, **value}
    documents.objects.append(FoundObject(value, index, where, NodeLocator(node)))


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == STR and key_node.value == key:
            child: yaml.Node = value_node
            return child
    return None


def _scalar(node: yaml.MappingNode, key: str) -> str | None:
    child = _child(node, key)
    if isinstance(child, yaml.ScalarNode) and child.tag == STR:
        value: str = child.value
        return value
    return None
