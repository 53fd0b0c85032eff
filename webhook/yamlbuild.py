"""Values from PyYAML nodes: the C loader (Kubernetes scalars optional) and a lean builder.

The builder makes str, int, float, bool, null, maps and lists itself and leaves other tags and
merge keys to PyYAML's safe constructor. It bounds aliases, nesting and size, so a hostile file
("billion laughs") fails with a clear error instead of exhausting memory.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.resolver import Resolver

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - the pure loader behaves the same, only slower
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_ALIASES = 100
MAX_DEPTH = 100
MAX_NODES = 2_000_000
MAX_RESOLVE_CACHE = 100_000

STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"
# An anchor or a tag is a node property (`&name`, `!!binary`), so it starts a node: at a line
# start or after `- `, `: `, `? `, `[`, `{` or `,`. `a && b` or `a != b` inside a scalar is none.
_AMPERSAND = re.compile(r"&[^\s,\[\]{}]")
_EXCLAMATION = re.compile(r"!\S")
_BEFORE_PROPERTY = frozenset("\n-:?[{,")


def has_anchors(text: str) -> bool:
    """Whether `text` may define an anchor (so a node may be reached twice, through an alias).
    May say yes for a text without one (that only costs time), never no for one with one."""
    return _has_property(text, _AMPERSAND)


def has_tags(text: str) -> bool:
    """Whether `text` may give a node an explicit tag (`!!binary`, `!custom`; a lone `!` only
    makes a scalar a string). May say yes for a text without one, never no for one with one."""
    return _has_property(text, _EXCLAMATION)


def _has_property(text: str, pattern: re.Pattern[str]) -> bool:
    for match in pattern.finditer(text):
        position = match.start() - 1
        while position >= 0 and text[position] in " \t":
            position -= 1
        if position < 0 or text[position] in _BEFORE_PROPERTY:
            return True
        start = position  # a tag may come first: `!!seq &name [...]`
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        if text[start] == "!":
            return True
    return False


_SCALAR_NODE = yaml.ScalarNode
_MAPPING_NODE = yaml.MappingNode


class YAMLDocumentError(ValueError):
    """The text is not acceptable YAML; `line` is 1-based when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


class Loader(_BaseLoader):
    """The safe C loader, with plain scalars' tags cached (keys and values repeat a lot).

    While composing a document it notes whether a node may fail to build or need PyYAML's
    constructor (`unusual`): a merge key, an int or float that does not construct, another
    implicit type, or a collection as a mapping key. Explicit tags and aliases are not seen
    here: `has_tags` and `has_anchors` find them in the text."""

    _resolved: dict[str, str] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.unusual = False
        self._index: Any = None  # where the node being composed sits in its parent
        self._root = True  # the next collection resolved is the document's root

    def start_document(self) -> None:
        """Forget what the previous document's composition noted."""
        self.unusual = False
        self._root = True

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is _SCALAR_NODE:
            if not implicit[0]:
                return STR  # quoted, or tagged `!`
            cache = self._resolved
            tag = cache.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if not self._usual(tag, value):
                    self.unusual = True  # not cached: noted again wherever it appears
                elif len(cache) < MAX_RESOLVE_CACHE:
                    cache[value] = tag
            return tag
        if self._index is None:  # a mapping's key, or the document's root
            if self._root:
                self._root = False
            else:
                self.unusual = True
        return MAP if kind is _MAPPING_NODE else SEQ

    def _usual(self, tag: str, value: str) -> bool:
        """Whether a plain scalar with this implicit `tag` builds without PyYAML's help."""
        if tag in (STR, NULL, BOOL):
            return True
        if tag not in (INT, FLOAT):
            return False
        construct = self.construct_yaml_int if tag == INT else self.construct_yaml_float
        try:
            construct(_SCALAR_NODE(tag, value))
        except ValueError:
            return False
        return True

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        self._index = current_index  # None for a mapping's key (and the root)

    def ascend_resolver(self) -> None:
        return None


class KubernetesLoader(Loader):
    """Scalars as Kubernetes reads them: no timestamp type, no YAML 1.1 `=` value type."""

    _resolved: dict[str, str] = {}
    yaml_implicit_resolvers = {
        first: [
            (tag, pattern)
            for tag, pattern in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
        ]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


class Builder:
    """Builds values from nodes: str, int, float, bool, null, maps and lists directly, any other
    tag (and merge keys) through PyYAML's safe constructor. Enforces the bounds."""

    def __init__(self, loader: Loader, *, anchors: bool, plain: bool = False) -> None:
        self.loader = loader
        self.anchors = anchors  # only then can a node be reached twice (an alias)
        # The document has no alias, explicit tag or unusual node (see Loader) and too few
        # nodes to pass MAX_NODES: `check` has nothing to find.
        self.plain = plain
        self.nodes = 0
        self.aliases = 0
        self.built: dict[int, Any] = {}
        self.scalars = {
            BOOL: loader.construct_yaml_bool,
            INT: loader.construct_yaml_int,
            FLOAT: loader.construct_yaml_float,
        }

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YAMLDocumentError(f"document has more than {MAX_NODES} nodes")
        if self.anchors:
            known = self.built.get(id(node), self)
            if known is not self:
                self._alias(node)
                return known
        value = self._build(node, depth)
        if self.anchors:
            self.built[id(node)] = value
        return value

    def _build(self, node: yaml.Node, depth: int) -> Any:
        tag = node.tag
        if tag == STR:
            return node.value
        if depth >= MAX_DEPTH:
            raise YAMLDocumentError(
                f"document nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1
            )
        if tag == MAP and isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE:
                    return self._constructed(node)
                key = self.build(key_node, depth + 1)
                value = self.build(value_node, depth + 1)
                try:
                    result[key] = value
                except TypeError:
                    raise YAMLDocumentError(
                        "while constructing a mapping found unhashable key",
                        key_node.start_mark.line + 1,
                    ) from None
            return result
        if tag == SEQ and isinstance(node, yaml.SequenceNode):
            return [self.build(child, depth + 1) for child in node.value]
        if tag == NULL:
            return None
        scalar = self.scalars.get(tag)
        if scalar is not None and isinstance(node, yaml.ScalarNode):
            try:
                return scalar(node)
            except ValueError as error:  # `0b_`, or an explicit tag: `!!int "zz"`
                raise YAMLDocumentError(
                    f"invalid value: {error}", node.start_mark.line + 1
                ) from None
        return self._constructed(node)

    def build_keys(self, node: yaml.MappingNode, keys: frozenset[str]) -> dict[str, Any]:
        """Only the top-level `keys` of a mapping (the rest is not built at all)."""
        return {
            key.value: self.build(value, 1)
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode) and key.tag == STR and key.value in keys
        }

    def _alias(self, node: yaml.Node) -> None:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise YAMLDocumentError(
                f"document uses more than {MAX_ALIASES} aliases (an alias bomb?)",
                node.start_mark.line + 1,
            )

    def check(self, node: yaml.Node) -> None:
        """Raise the YAMLDocumentError that building `node` would raise, without building it:
        what is skipped must fail as it would when built."""
        if self.plain:
            return
        plain = (STR, NULL, MAP, SEQ)
        stack = [node]
        seen: set[int] = set()
        while stack:
            current = stack.pop()
            tag = current.tag
            if isinstance(current, yaml.ScalarNode):
                if tag not in plain:
                    self.build(current)
                continue
            if self.anchors:
                if id(current) in seen:
                    self._alias(current)
                    continue
                seen.add(id(current))
            if tag not in plain:
                self.build(current)
            elif isinstance(current, yaml.MappingNode):
                if any(
                    not isinstance(key, yaml.ScalarNode) or key.tag == MERGE
                    for key, _ in current.value
                ):
                    self.build(current)
                    continue
                for key, value in reversed(current.value):  # popped in document order
                    stack.append(value)
                    stack.append(key)
            elif isinstance(current, yaml.SequenceNode):
                stack.extend(reversed(current.value))

    def _constructed(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError as error:  # e.g. a timestamp such as 2027-02-30
            raise YAMLDocumentError(f"invalid value: {error}", _bad_scalar_line(node)) from None
        except yaml.MarkedYAMLError as error:
            raise translated(error) from None
        except RecursionError:
            raise YAMLDocumentError(f"document nests deeper than {MAX_DEPTH} levels") from None
        finally:
            self.loader.constructed_objects = {}  # PyYAML's state: nodes are not kept alive
            self.loader.recursive_objects = {}


def _bad_scalar_line(node: yaml.Node) -> int:
    """The line of the first scalar that cannot be constructed (the node's if none)."""
    constructor = Loader("")
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


def translated(error: yaml.MarkedYAMLError) -> YAMLDocumentError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    reason = " ".join(part for part in (error.context, error.problem) if part)
    return YAMLDocumentError(reason or str(error), line)
