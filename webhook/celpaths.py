"""Which parts of a variable a CEL expression can read, and copies holding only those; pure.

cel-expr-python converts a variable into CEL values in full when a program first reads it
(about 250 us for a 16 KB Pod, most of it managedFields and status, which rules rarely read).
When every use of the variable is a chain of field selections (`object.spec.containers`),
string-keyed indexes (`object.metadata.labels['app']`), a presence test
(`has(object.spec.hostAliases)`), or the range of a macro whose element is itself used only
that way (`object.spec.containers.all(c, has(c.resources))`), the program sees nothing but the
values at the ends of those chains: evaluated on a copy holding only them, it gives the same
result, errors included (a missing key stays missing, a list keeps its length). Any other use
(the variable passed whole to a function or compared, an element kept whole by `filter`)
reads the whole value.

One difference is deliberate: a value CEL cannot hold (an integer past 64 bits, two keys that
differ only after a NUL character) fails only the rules that can read it, as in Kubernetes,
not every rule that reads the object.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from webhook.celast import Node, field_chain


class Need(enum.Enum):
    WHOLE = "whole"  # the value is read as it is
    PRESENT = "present"  # only whether the key holding it exists (`has()`), or nothing at all


@dataclass(frozen=True, slots=True)
class Fields:
    """A map of which only these keys are read, or a list whose elements are read as `each`."""

    fields: tuple[tuple[str, Selection], ...] = ()  # sorted by key
    each: Selection | None = None  # the elements of a list a macro iterates over


Selection: TypeAlias = Need | Fields
# Read once: each read of an enum member from its class goes through the metaclass's
# __getattr__ hook (about 70 ns on CPython 3.11).
_WHOLE: Final = Need.WHOLE
_PRESENT: Final = Need.PRESENT


def selections(root: Node, names: Iterable[str]) -> dict[str, Selection]:
    """What the expression `root` can read of each variable in `names`."""
    builders = {name: _Builder() for name in names}
    _visit(root, dict(builders))
    return {name: builder.freeze() for name, builder in builders.items()}


def prune(value: Any, selection: Selection) -> Any:
    """A copy of `value` holding only what `selection` reads (`value` itself when it is all)."""
    if selection is _WHOLE or selection is _PRESENT:
        return value
    return _pruned(value, selection)


def union(first: Selection, second: Selection) -> Selection:
    """What reads both `first` and `second` (pruned to it, a value serves programs reading
    either, with the same results)."""
    if first is Need.WHOLE or second is Need.WHOLE:
        return Need.WHOLE
    if first is Need.PRESENT:
        return second
    if second is Need.PRESENT:
        return first
    fields = dict(first.fields)
    for key, sub in second.fields:
        fields[key] = union(fields[key], sub) if key in fields else sub
    each = first.each
    if second.each is not None:
        each = second.each if each is None else union(each, second.each)
    if each is Need.WHOLE:
        return Need.WHOLE
    return Fields(fields=tuple(sorted(fields.items())), each=each)


def reaches(selection: Selection, keys: Sequence[str]) -> bool:
    """Whether an expression reading `selection` of a value can read the value at `keys` (map
    keys from it), or tell whether it is there: it reads a map on the way whole, iterates over
    its keys, or selects every key down to it."""
    for key in keys:
        if selection is Need.WHOLE:
            return True
        if selection is Need.PRESENT:
            return False  # only whether the value on the way is there
        if selection.each is not None:
            return True  # a map iterated over: every key is read
        found = next((sub for name, sub in selection.fields if name == key), None)
        if found is None:
            return False
        selection = found
    return True


def describe(selection: Selection) -> str:
    """A short canonical text of `selection` (`{spec{containers[{image}]}}`), also a key."""
    if selection is Need.WHOLE:
        return "*"
    if selection is Need.PRESENT:
        return "?"
    inner = ",".join(f"{key!r}:{describe(sub)}" for key, sub in selection.fields)
    each = f"[{describe(selection.each)}]" if selection.each is not None else ""
    return "{" + inner + "}" + each


def _pruned(value: Any, selection: Fields) -> Any:
    # The leaves are handled in the loop rather than by a call each: most of them are whole.
    if isinstance(value, dict):
        if selection.each is not None:  # a map iterated over: every key is read
            return value
        pruned = {}
        for key, sub in selection.fields:
            if key in value:
                if sub is _WHOLE:
                    pruned[key] = value[key]
                elif sub is _PRESENT:
                    pruned[key] = None  # the key is kept; its value is never read
                else:
                    pruned[key] = _pruned(value[key], sub)
        return pruned
    each = selection.each
    if isinstance(value, list) and each is not None:
        if each is _WHOLE:
            return value
        if each is _PRESENT:
            return [None] * len(value)
        return [_pruned(item, each) for item in value]
    return value  # no map: selecting a field of it fails the same way on the whole value


class _Builder:
    """A selection being collected: the mutable form of `Selection`."""

    __slots__ = ("each", "fields", "present", "whole")

    def __init__(self) -> None:
        self.whole = False
        self.present = False
        self.fields: dict[str, _Builder] = {}
        self.each: _Builder | None = None

    def path(self, steps: Iterable[str]) -> _Builder:
        node = self
        for step in steps:
            node = node.fields.setdefault(step, _Builder())
        return node

    def element(self) -> _Builder:
        if self.each is None:
            self.each = _Builder()
        return self.each

    def freeze(self) -> Selection:
        if self.whole:
            return Need.WHOLE
        each = self.each.freeze() if self.each is not None else None
        if each is Need.WHOLE:
            return Need.WHOLE  # whole elements: the whole list (or map) is read
        if self.fields or each is not None:
            fields = tuple((key, self.fields[key].freeze()) for key in sorted(self.fields))
            return Fields(fields=fields, each=each)
        return Need.PRESENT


@dataclass(frozen=True, slots=True)
class _Chain:
    builder: _Builder  # the selection of the variable the chain starts from
    steps: tuple[str, ...]  # the keys selected from it, in order
    test_only: bool  # the chain is a `has()` test of its last key


def _chain(node: Node, scope: Mapping[str, _Builder]) -> _Chain | None:
    """`node` as a chain of keys from a variable in `scope`, or None when it is not one."""
    chain = field_chain(node)
    if chain is None or chain[0] not in scope:
        return None
    name, steps = chain
    return _Chain(scope[name], steps, node.test_only)


def _visit(node: Node, scope: dict[str, _Builder]) -> None:
    chain = _chain(node, scope)
    if chain is not None:
        end = chain.builder.path(chain.steps)
        if chain.test_only:
            end.present = True
        else:
            end.whole = True
        return
    if node.kind == "comprehension":
        _comprehension(node, scope)
        return
    for child in node.children:
        _visit(child, scope)


def _comprehension(node: Node, scope: dict[str, _Builder]) -> None:
    # The range is evaluated outside the loop; the loop variable and the accumulator shadow
    # any variable of the same name in the condition and the step, the accumulator alone in
    # the result.
    loop = {name: builder for name, builder in scope.items() if name != node.accu_var}
    result = dict(loop)
    loop.pop(node.iter_var, None)
    source = node.part("range")
    chain = _chain(source, scope)
    if chain is not None and not chain.test_only:
        loop[node.iter_var] = chain.builder.path(chain.steps).element()
    else:
        _visit(source, scope)
    _visit(node.part("init"), scope)
    _visit(node.part("condition"), loop)
    _visit(node.part("step"), loop)
    _visit(node.part("result"), result)
