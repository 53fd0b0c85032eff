"""An upper bound of the CEL cost estimate, a polynomial in the sizes of the values read; pure.

`celcost.estimate` walks a rule's syntax tree on every evaluation. Its result only grows with
the measures of the values it reads, and those enter it through sums, maxima (at most sums),
and the step counts of macros (at most the measure of the list iterated), so it is bounded by
a polynomial in those measures whose coefficients are found once at load. When the bound is
under the limit the estimate is too, and the estimate need not be computed; only when the
bound is over it (a macro over a very long list, say) is the estimate itself computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.celast import Node
from webhook.celcost import CHARACTERS_PER_UNIT, CONSTANT_TIME, Size, measure

Path = tuple[str, tuple[str, ...]]  # a variable and the fields selected from it
Monomial = tuple[int, ...]  # indexes of paths whose measures are multiplied, sorted
Polynomial = dict[tuple[Path, ...], float]  # a product of path measures -> its factor
MAX_TERMS = 64  # past this many products, the estimate itself is cheaper
ROUNDING = 1 + 1e-9  # a margin over the estimate for sums rounded in another order


@dataclass(frozen=True, slots=True)
class Bound:
    """Sum of factor x product of the measures (`Size.total`) of the values at `paths`."""

    paths: tuple[Path, ...]
    terms: tuple[tuple[Monomial, float], ...]

    def value(self, variables: Mapping[str, Any], sizes: dict[int, Size]) -> float:
        """The bound for these variables (`sizes` as for `celcost.estimate`)."""
        measures = []
        for name, steps in self.paths:
            value = variables.get(name)
            for step in steps:
                value = value.get(step) if isinstance(value, dict) else None
            size = sizes.get(id(value))
            if size is None:
                size = sizes[id(value)] = measure(value)
            measures.append(size.items + size.text)  # its total
        total = 0.0
        for monomial, factor in self.terms:
            for index in monomial:
                factor *= measures[index]
            total += factor
        return total * ROUNDING + ROUNDING - 1


def upper_bound(root: Node) -> Bound | None:
    """The bound of `root`'s estimate, or None when it would have too many terms."""
    try:
        cost, _ = _bound(root, {})
    except _TooLarge:
        return None
    paths = sorted({path for product in cost for path in product})
    index = {path: number for number, path in enumerate(paths)}
    terms = tuple(
        (tuple(sorted(index[path] for path in product)), factor) for product, factor in cost.items()
    )
    return Bound(tuple(paths), terms)


class _TooLarge(Exception):
    pass


def _constant(value: float) -> Polynomial:
    return {(): value} if value else {}


def _add(*polynomials: Polynomial) -> Polynomial:
    total: Polynomial = {}
    for polynomial in polynomials:
        for product, factor in polynomial.items():
            total[product] = total.get(product, 0.0) + factor
    if len(total) > MAX_TERMS:
        raise _TooLarge
    return total


def _multiply(left: Polynomial, right: Polynomial) -> Polynomial:
    total: Polynomial = {}
    for one, first in left.items():
        for other, second in right.items():
            product = tuple(sorted(one + other))
            total[product] = total.get(product, 0.0) + first * second
    if len(total) > MAX_TERMS:
        raise _TooLarge
    return total


def _bound(node: Node, scope: Mapping[str, Polynomial]) -> tuple[Polynomial, Polynomial]:
    """(bound of the cost, bound of the size's total) of `node`, as `_Estimator.visit` has
    them; `scope` holds the size bounds of the macros' variables."""
    if node.kind == "const":
        return {}, _constant(len(node.text or "") / CHARACTERS_PER_UNIT)
    chain = _chain(node)
    if chain is not None:
        name, steps = chain
        # A field path of a variable costs 1 (when the variable is not bound, 1 per step);
        # from a macro's variable, 1 per step, and it is as large as that variable.
        size: Polynomial = dict(scope[name]) if name in scope else {((name, steps),): 1.0}
        return _constant(len(steps) + 1.0), size
    if node.kind == "select":
        cost, size = _bound(node.children[0], scope) if node.children else ({}, {})
        return _add(cost, _constant(1)), size
    if node.kind == "comprehension":
        return _comprehension(node, scope)
    costs, sizes = [_constant(1)], []
    for child in node.children:
        cost, size = _bound(child, scope)
        costs.append(cost)
        sizes.append(size)
    cost, joined = _add(*costs), _add(*sizes)  # a maximum is at most the sum
    if node.kind == "list":
        return cost, _add(joined, _constant(len(node.children)))
    if node.kind == "struct":
        return cost, _add(joined, _constant(len(node.children) / 2))
    if node.name in CONSTANT_TIME:
        return cost, joined
    return _add(cost, joined), joined


def _comprehension(node: Node, scope: Mapping[str, Polynomial]) -> tuple[Polynomial, Polynomial]:
    # The steps are at most the items of the range, each element and the accumulated list of
    # `map` and `filter` at most as large as the range.
    range_cost, range_size = _bound(node.part("range"), scope)
    init_cost, init_size = _bound(node.part("init"), scope)
    accumulated = range_size if node.part("init").kind in ("list", "struct") else init_size
    inner = {**scope, node.iter_var: range_size, node.accu_var: accumulated}
    condition_cost, _ = _bound(node.part("condition"), inner)
    step_cost, _ = _bound(node.part("step"), inner)
    result_cost, result_size = _bound(node.part("result"), inner)
    loop = _multiply(range_size, _add(_constant(1), condition_cost, step_cost))
    return _add(range_cost, init_cost, loop, result_cost), result_size


def _chain(node: Node) -> Path | None:
    steps: list[str] = []
    while node.kind == "select" and len(node.children) == 1:
        steps.append(node.name)
        node = node.children[0]
    if node.kind != "ident":
        return None
    return node.name, tuple(reversed(steps))
