"""CEL expressions for custom rules, with Kubernetes ValidatingAdmissionPolicy variables.

Backed by cel-expr-python (Google's CEL C++ runtime): expressions are parsed and type-checked
once at load, with their regular expressions (RE2: linear time) checked too, and with the
parts of the variables they can read (`celpaths`): CEL is handed only those, so a rule that
reads a Pod's name does not pay for converting its managedFields. Before each
evaluation the cost is estimated from the actual values (`celcost`); over the limit, the rule
is not evaluated, so no expression can stall the webhook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from cel_expr_python import cel

from webhook.celast import Node, syntax_tree, walk
from webhook.celbound import Bound, upper_bound
from webhook.celcost import MAX_COST, Size, estimate
from webhook.celnative import NativeProgram, holdable, native_program
from webhook.celpaths import Need, Selection, describe, prune, selections

VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject")
MAX_EXPRESSION_LENGTH = 5000

_environment = cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES})
_strings = cel.NewEnv(variables={"text": cel.Type.STRING, "pattern": cel.Type.STRING})
_search = _strings.compile("text.matches(pattern)")
_CEL = "@cel"  # not a variable name: where an activation keeps cel-expr-python's


class CELCompileError(ValueError):
    """The expression does not parse or type-check."""


class CELEvaluationError(RuntimeError):
    """The expression failed at run time (missing field, budget exceeded, wrong type)."""


# A frozen msgspec Struct rather than a frozen dataclass: one or two are built per request,
# and a frozen dataclass pays an object.__setattr__ per field.
class Activation(msgspec.Struct, frozen=True):
    """Variables bound once for every program evaluated on one request that reads the same
    parts of them. A variable is converted into CEL values when a program first reads it;
    passing `data=` to each program instead converts it every time (measured: ~400 us for a
    15 KB Pod, against ~3 us per program with a shared activation). Each variable bound costs
    about 1 us, read or not.

    For one program, `data=` is cheaper (31,000 instructions, against 47,000 with an
    activation object): an activation that is not `shared` keeps its values for that. The
    activation object is built when a program is first evaluated by CEL (not natively)."""

    shared: bool  # more than one program may be evaluated with it
    shown: Mapping[str, Any]  # the values handed to CEL, pruned
    variables: Mapping[str, Any]  # the whole values, for the cost estimate
    sizes: dict[int, Size]  # values measured by the cost estimates, by id
    # Per variable shown, whether CEL can hold it (see `celnative.holdable`); and under
    # `_CEL`, cel-expr-python's activation once built.
    memo: dict[str, Any]

    @classmethod
    def of(
        cls,
        variables: Mapping[str, Any],
        reads: Mapping[str, Selection] | None = None,
        *,
        shared: bool = True,
    ) -> Activation:
        """The activation of `variables`: with `reads`, only those it names, each pruned to
        what it selects; `shared` when more than one program may be evaluated with it."""
        data = dict(variables)
        shown = data
        if reads is not None:
            shown = {name: prune(data[name], reads[name]) for name in reads if name in data}
        return cls(shared, shown, data, {}, {})

    @property
    def value(self) -> Any:
        """cel-expr-python's activation of the values shown; None when not shared."""
        if not self.shared:
            return None
        value = self.memo.get(_CEL)
        if value is None:
            value = self.memo[_CEL] = _environment.Activation(data=self.shown)
        return value

    def holds(self, names: Iterable[str]) -> bool:
        """Whether CEL can hold every variable in `names` as shown (all of them are shown)."""
        memo, shown = self.memo, self.shown
        for name in names:
            held = memo.get(name)
            if held is None:
                held = memo[name] = name in shown and holdable(shown[name])
            if not held:
                return False
        return True


@dataclass(frozen=True, slots=True)
class CELProgram:
    source: str
    _expression: Any
    tree: Node  # the checked syntax tree, for the cost estimate
    returns_bool: bool  # type-checked as bool (not dyn)
    bound: Bound | None  # a cheaper upper bound of the estimate
    reads: Mapping[str, Selection]  # what it can read of each variable it refers to
    reads_key: str  # `reads` as text: programs with equal keys can share an activation
    native: NativeProgram | None = None  # the expression evaluated natively, when it can be
    # The bound is a constant under the limit: no values can make the estimate exceed it.
    cost_free: bool = False

    def activation(self, variables: Mapping[str, Any], *, shared: bool = False) -> Activation:
        """An activation for this program (`shared`: and others with the same `reads_key`)."""
        return Activation.of(variables, self.reads, shared=shared)

    def evaluate(self, variables: Mapping[str, Any] | Activation) -> bool:
        """True when the rule passes; raises CELEvaluationError when it cannot be decided
        (also when its estimated cost for these values is over the limit). `variables` may
        be an `Activation` built once for several programs."""
        activation = variables if isinstance(variables, Activation) else self.activation(variables)
        if not self.cost_free:
            bound = self.bound
            # The estimate is at most the bound: under the limit, it need not be computed.
            if bound is None or bound.value(activation.variables, activation.sizes) > MAX_COST:
                self._check_estimate(activation)
        native = self.native
        if native is not None and activation.holds(self.reads):
            result = native(activation.shown)
            if result is not None:
                return result
        try:
            if activation.shared:
                value = self._expression.eval(activation=activation.value)
            else:
                value = self._expression.eval(data=activation.shown)
        except RuntimeError as error:
            raise CELEvaluationError(_clean(str(error))) from None
        if self.returns_bool:  # a bool or an error, whose value is its text
            result = value.value()
            if result is True or result is False:
                return result
        kind = value.type()
        if kind == cel.Type.BOOL:
            return bool(value.value())
        if kind == cel.Type.ERROR:
            raise CELEvaluationError(_clean(str(value.value())))
        raise CELEvaluationError(f"expression returned {kind.name()}, expected bool")

    def _check_estimate(self, activation: Activation) -> None:
        cost = estimate(self.tree, activation.variables, activation.sizes)
        if cost > MAX_COST:
            raise CELEvaluationError(
                f"estimated cost {cost:,.0f} is over the limit of {MAX_COST:,}: the expression "
                "iterates or copies too much for this object"
            )


def compile_expression(source: str) -> CELProgram:
    """Parse and type-check `source`; raises CELCompileError with the position of the error."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise CELCompileError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        expression = _environment.compile(source)
    except RuntimeError as error:
        raise CELCompileError(_clean(str(error))) from None
    result = expression.return_type()
    if not (result == cel.Type.BOOL or result == cel.Type.DYN):
        raise CELCompileError(f"expression returns {result.name()}, a rule needs a bool")
    tree = syntax_tree(expression.serialize())
    for node in walk(tree):
        pattern = node.children[-1].text if node.name == "matches" and node.children else None
        if pattern is not None:
            check_regex(pattern)
    cost = estimate(tree, dict.fromkeys(VARIABLES))
    if cost > MAX_COST:
        raise CELCompileError(
            f"estimated cost {cost:,.0f} is over the limit of {MAX_COST:,} even for an empty object"
        )
    bound = upper_bound(tree)
    reads = {
        name: selection
        for name, selection in selections(tree, VARIABLES).items()
        if selection is not Need.PRESENT  # not referred to at all
    }
    return CELProgram(
        source=source,
        _expression=expression,
        tree=tree,
        returns_bool=result == cel.Type.BOOL,
        bound=bound,
        reads=reads,
        reads_key=";".join(f"{name}={describe(selection)}" for name, selection in reads.items()),
        native=native_program(tree, VARIABLES),
        cost_free=bound is not None and not bound.paths and bound.value({}, {}) <= MAX_COST,
    )


def check_regex(pattern: str) -> None:
    """Raises CELCompileError when `pattern` is no RE2 regular expression."""
    try:
        value = _search.eval(data={"text": "", "pattern": pattern})
    except RuntimeError as error:
        raise CELCompileError(_clean(str(error))) from None
    if value.type() == cel.Type.ERROR:
        raise CELCompileError(_clean(str(value.value())))


def regex_search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`, with RE2 (Go's syntax and semantics, as
    cosign uses): linear time whatever the pattern. False for a pattern that is not RE2."""
    try:
        value = _search.eval(data={"text": text, "pattern": pattern})
    except RuntimeError:
        return False
    return value.type() == cel.Type.BOOL and bool(value.value())


def _clean(text: str) -> str:
    for prefix in ("INVALID_ARGUMENT: ", "INTERNAL: ", "NOT_FOUND: ", "CANCELLED: "):
        text = text.replace(prefix, "")
    for suffix in (" [INVALID_ARGUMENT]", " [INTERNAL]", " [CANCELLED]"):
        text = text.replace(suffix, "")
    return text.strip()
