"""A cost limit for CEL rules, like the API server's, checked before each evaluation; pure.

cel-expr-python stops a comprehension after 10,000 steps but does not price them: `map` and
`filter` copy their result on every step (quadratic in the list) and string operations scale
with their strings. So a rule's cost is estimated from its syntax tree and the actual sizes of
this request's values, before it runs. Units: one list element copied or ten characters read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from webhook.celast import Node

MAX_COST = 1_000_000  # the API server's limit per CEL expression, in its units
ITERATION_BUDGET = 10_000  # cel-expr-python's limit on comprehension steps per evaluation
CHARACTERS_PER_UNIT = 10
# Calls whose cost does not grow with their operands (the operands are priced themselves).
CONSTANT_TIME = frozenset(
    {
        "_&&_", "_||_", "!_", "_?_:_", "_[_]", "size", "-_", "_-_", "_*_", "_/_", "_%_",
        "_<_", "_<=_", "_>_", "_>=_", "@not_strictly_false", "int", "uint", "double", "bool",
        "type", "dyn", "duration", "timestamp",
    }
)  # fmt: skip


# A frozen msgspec Struct rather than a frozen dataclass: one is built for each value
# measured on a request, and a frozen dataclass pays an object.__setattr__ per field.
class Size(msgspec.Struct, frozen=True):
    """An upper bound on a value: its longest list or map, and its longest string (in units)."""

    items: float = 0.0
    text: float = 0.0

    def __add__(self, other: Size) -> Size:
        return Size(self.items + other.items, self.text + other.text)

    def join(self, other: Size) -> Size:
        return Size(max(self.items, other.items), max(self.text, other.text))

    @property
    def total(self) -> float:
        return self.items + self.text


NOTHING = Size()
_SCALARS = frozenset({int, float, bool, type(None)})  # nothing to measure in them


def measure(value: Any) -> Size:
    """The longest list or map and the longest string anywhere in `value` (no recursion)."""
    # JSON's types are compared exactly, their strings read without a trip through the stack
    # and no builtin called per value (five times faster on a Pod's containers); other types
    # go the general way.
    items = text = 0
    stack = [value]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is dict:
            children: Any = current.values()
            if len(current) > items:
                items = len(current)
            for key in current:
                if type(key) is str:
                    if len(key) > text:
                        text = len(key)
                elif type(key) not in _SCALARS:
                    stack.append(key)
        elif kind is list:
            children = current
            if len(current) > items:
                items = len(current)
        elif isinstance(current, str | bytes):
            text = max(text, len(current))
            continue
        elif isinstance(current, dict):
            items = max(items, len(current))
            stack.extend(current.keys())
            stack.extend(current.values())
            continue
        elif isinstance(current, list | tuple):
            items = max(items, len(current))
            stack.extend(current)
            continue
        else:
            continue
        for child in children:
            child_kind = type(child)
            if child_kind is str:
                if len(child) > text:
                    text = len(child)
            elif child_kind not in _SCALARS:
                stack.append(child)
    return Size(float(items), text / CHARACTERS_PER_UNIT)


def estimate(
    root: Node, variables: Mapping[str, Any], sizes: dict[int, Size] | None = None
) -> float:
    """The estimated cost of evaluating `root` with `variables` (the values CEL will see).

    `sizes` keeps the values measured, by id, for further estimates with the same variables
    (which must stay alive and unchanged as long as it is used)."""
    return _Estimator(variables, {} if sizes is None else sizes).visit(root, {})[0]


class _Estimator:
    def __init__(self, variables: Mapping[str, Any], sizes: dict[int, Size]) -> None:
        self.variables = variables
        self.sizes = sizes  # id of a value -> its measure

    def measured(self, value: Any) -> Size:
        key = id(value)
        if key not in self.sizes:
            self.sizes[key] = measure(value)
        return self.sizes[key]

    def resolve(self, node: Node, scope: Mapping[str, Size]) -> tuple[bool, Any]:
        """The actual value of a field path from a variable (`object.spec.containers`)."""
        if node.kind == "ident" and node.name not in scope and node.name in self.variables:
            return True, self.variables[node.name]
        if node.kind == "select" and node.children:
            found, parent = self.resolve(node.children[0], scope)
            if found:
                return True, parent.get(node.name) if isinstance(parent, dict) else None
        return False, None

    def visit(self, node: Node, scope: Mapping[str, Size]) -> tuple[float, Size]:
        """(cost, size of the result) of `node`."""
        if node.kind == "const":
            return 0.0, Size(text=len(node.text or "") / CHARACTERS_PER_UNIT)
        if node.kind in ("ident", "select"):
            found, value = self.resolve(node, scope)
            if found:
                return 1.0, self.measured(value)
            if node.kind == "ident":
                return 1.0, scope.get(node.name, NOTHING)
            cost, size = self.visit(node.children[0], scope) if node.children else (0.0, NOTHING)
            return cost + 1, size  # a field is no bigger than the value holding it
        if node.kind == "comprehension":
            return self.comprehension(node, scope)
        visited = [self.visit(child, scope) for child in node.children]
        cost = sum(item[0] for item in visited) + 1
        sizes = [item[1] for item in visited]
        joined = NOTHING
        for size in sizes:
            joined = joined.join(size)
        if node.kind in ("list", "struct"):
            count = len(sizes) if node.kind == "list" else len(sizes) / 2
            return cost, Size(max(float(count), joined.items), joined.text)
        if node.name == "_+_":
            total = sum(sizes, NOTHING)
            return cost + total.total, total
        if node.name in CONSTANT_TIME:
            return cost, joined
        return cost + sum(size.total for size in sizes), joined

    def comprehension(self, node: Node, scope: Mapping[str, Size]) -> tuple[float, Size]:
        range_cost, range_size = self.visit(node.part("range"), scope)
        init_cost, init_size = self.visit(node.part("init"), scope)
        steps = min(range_size.items, ITERATION_BUDGET)
        accumulated = init_size
        if node.part("init").kind in ("list", "struct"):  # map and filter build a list,
            accumulated = Size(steps / 2, range_size.text)  # half as long as at the end on average
        element = range_size
        found, value = self.resolve(node.part("range"), scope)
        if found and isinstance(value, list | dict):  # elements of an actual list: measure them
            element = NOTHING
            for item in value:
                element = element.join(self.measured(item))
        inner = {**scope, node.iter_var: element, node.accu_var: accumulated}
        condition_cost, _ = self.visit(node.part("condition"), inner)
        step_cost, _ = self.visit(node.part("step"), inner)
        result_cost, result_size = self.visit(node.part("result"), inner)
        cost = range_cost + init_cost + steps * (1 + condition_cost + step_cost) + result_cost
        return cost, result_size
