"""CEL expressions of simple shapes evaluated on the Python values, where CEL's result is
certain; pure.

cel-expr-python costs about 2 us per evaluation, and converting what a program reads into CEL
values costs more (several us for a map of labels). Most rules only select fields, test
presence, compare with constants, test membership, take sizes, match string ends and iterate
with `all` or `exists`. For those, `native_program` builds a Python function that follows
CEL's semantics on JSON's values (null, bool, int, double, string, list, map), in CEL's order
(`&&`, `||` and the macros stop where CEL stops), and answers True or False only when every
step it took is one whose result CEL defines the same way for those operands. Wherever a step
could differ or fail (a missing key, a field of null, an ordering of mixed types, a double, a
list compared whole, a non-bool operand of a logical operator, iterations past a budget) it
answers None: the program is then evaluated by CEL, so errors and their messages are CEL's.

The caller hands it only values CEL can hold (`holdable`) and checks the cost limit first,
as for CEL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from webhook.celast import Node, field_chain

Env = Mapping[str, Any]
Step = Callable[[Env], Any]
NativeProgram = Callable[[Env], bool | None]

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
# Comprehension steps a native evaluation may take, half of cel-expr-python's budget per
# evaluation: past it, CEL stops the evaluation with an error.
MAX_STEPS = 5_000
_STEPS = "@steps"  # not a CEL identifier: the step counter in an evaluation's environment
_COMPARABLE = (str, int, bool)  # ordered the same way in CEL and Python within a type
_NONE = type(None)


class _Undecided(Exception):
    """CEL's result is not certain here."""


def native_program(root: Node, variables: Iterable[str]) -> NativeProgram | None:
    """A function of the variables giving the expression's bool result, or None when CEL
    must decide; None instead of a function when the expression has another shape."""
    step = _compile(root, frozenset(variables))
    if step is None:
        return None
    counted = _has_loops(root)

    def run(env: Env) -> bool | None:
        if counted:
            env = {**env, _STEPS: [0]}
        try:
            value = step(env)
        except Exception:  # _Undecided, or a shape this module did not foresee: CEL decides
            return None
        return value if value is True or value is False else None

    return run


def holdable(value: Any) -> bool:
    """Whether cel-expr-python converts `value` into CEL values as JSON's: only dicts with
    string keys, lists, strings without NUL characters or lone surrogates, 64-bit integers,
    floats, bools and None (no recursion)."""
    texts: list[str] = []
    stack = [value]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is dict:
            for key, item in current.items():
                if type(key) is not str:
                    return False
                texts.append(key)
                kind = type(item)
                if kind is str:
                    texts.append(item)
                elif kind is dict or kind is list:
                    stack.append(item)
                elif kind is int:
                    if not INT64_MIN <= item <= UINT64_MAX:
                        return False
                elif kind is not bool and kind is not float and kind is not _NONE:
                    return False
        elif kind is list:
            stack.extend(current)
        elif kind is str:
            texts.append(current)
        elif kind is int:
            if not INT64_MIN <= current <= UINT64_MAX:
                return False
        elif kind is not bool and kind is not float and kind is not _NONE:
            return False
    return _texts_holdable("".join(texts))  # one test for every string: the same answer


def _texts_holdable(text: str) -> bool:
    if "\x00" in text:
        return False  # cel-expr-python cuts strings at a NUL
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate
    return True


def _has_loops(root: Node) -> bool:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.kind == "comprehension":
            return True
        stack.extend(node.children)
    return False


def _compile(node: Node, scope: frozenset[str]) -> Step | None:
    """The step evaluating `node` with the variables in `scope`, or None for another shape."""
    if node.kind == "const":
        return _constant(node)
    if node.kind == "comprehension":
        return _comprehension(node, scope)
    chain = _chain(node, scope)
    if chain is not None:
        return _path(*chain)
    if node.kind == "select" and len(node.children) == 1:
        if node.test_only:
            tested = _chain(node.children[0], scope)
            if tested is not None:
                return _path_presence(*tested, node.name)
        operand = _compile(node.children[0], scope)
        if operand is None:
            return None
        return _presence(operand, node.name) if node.test_only else _field(operand, node.name)
    if node.kind != "call":
        return None
    operands = [_compile(child, scope) for child in node.children]
    if any(operand is None for operand in operands):
        return None
    steps = [operand for operand in operands if operand is not None]
    function = _BINARY.get(node.name)
    if function is not None and len(steps) == 2:
        first, second = node.children
        if _is_constant(second):
            return _with_constant(node.name, function, steps[0], second.value, constant_first=False)
        if _is_constant(first):
            return _with_constant(node.name, function, steps[1], first.value, constant_first=True)
        return _binary(function, steps[0], steps[1])
    build = _CALLS.get((node.name, len(steps)))
    return build(*steps) if build is not None else None


def _is_constant(node: Node) -> bool:
    return node.kind == "const" and node.name in _CONSTANTS


_CONSTANTS = ("null", "bool", "int", "string")


def _constant(node: Node) -> Step | None:
    if node.name not in _CONSTANTS:
        return None  # doubles, uints and bytes are compared by rules this module leaves out
    value = node.value

    def constant(env: Env) -> Any:
        return value

    return constant


def _chain(node: Node, scope: frozenset[str]) -> tuple[str, tuple[str, ...]] | None:
    """`node` as a variable in `scope` and the keys selected from it, or None (a `has()` test
    is no chain here: presence is compiled on its own)."""
    chain = None if node.test_only else field_chain(node)
    return chain if chain is not None and chain[0] in scope else None


def _path(name: str, keys: tuple[str, ...]) -> Step:
    # A missing key, or a key of something else than a map, is an error in CEL.
    def path(env: Env) -> Any:
        value = env[name]
        for key in keys:
            if type(value) is not dict:
                raise _Undecided
            value = value[key]
        return value

    return path


def _field(operand: Step, name: str) -> Step:
    def field(env: Env) -> Any:
        value = operand(env)
        if type(value) is not dict:
            raise _Undecided
        return value[name]

    return field


def _path_presence(name: str, keys: tuple[str, ...], field: str) -> Step:
    def path_presence(env: Env) -> bool:
        value = env[name]
        for key in keys:
            if type(value) is not dict:
                raise _Undecided
            value = value[key]
        if type(value) is not dict:
            raise _Undecided  # has() of a field of null, a list or a scalar: an error
        return field in value

    return path_presence


def _presence(operand: Step, name: str) -> Step:
    def presence(env: Env) -> bool:
        value = operand(env)
        if type(value) is not dict:
            raise _Undecided  # has() of a field of null, a list or a scalar: an error
        return name in value

    return presence


def _index(container: Step, key: Step) -> Step:
    def index(env: Env) -> Any:
        value, at = container(env), key(env)
        if type(value) is dict and type(at) is str:
            return value[at]
        if type(value) is list and type(at) is int and 0 <= at < len(value):
            return value[at]
        raise _Undecided

    return index


def _not(operand: Step) -> Step:
    def negation(env: Env) -> bool:
        value = operand(env)
        if value is True:
            return False
        if value is False:
            return True
        raise _Undecided

    return negation


def _short_circuit(decisive: bool) -> Callable[[Step, Step], Step]:
    """`&&` (decisive False) or `||` (decisive True): a decisive left side is the answer and
    the right side is not evaluated, as in CEL; otherwise the right side's boolean is."""

    passing = not decisive  # the left value that hands the answer to the right side

    def build(left: Step, right: Step) -> Step:
        def logical(env: Env) -> bool:
            first = left(env)
            if first is decisive:  # `is`: 1 is no CEL boolean
                return first is True
            if first is not passing:
                raise _Undecided
            second = right(env)
            if second is True or second is False:
                return second
            raise _Undecided

        return logical

    return build


_and = _short_circuit(False)
_or = _short_circuit(True)


def _conditional(condition: Step, then: Step, otherwise: Step) -> Step:
    def conditional(env: Env) -> Any:
        value = condition(env)
        if value is True:
            return then(env)
        if value is False:
            return otherwise(env)
        raise _Undecided

    return conditional


def _equal(first: Any, second: Any) -> bool:
    """CEL's `==` where it is certain: equal scalars of one type, or values of two kinds that
    CEL never finds equal (heterogeneous equality: a string is not an int)."""
    kind, other = type(first), type(second)
    if kind is other:
        if kind is str or kind is bool or kind is _NONE:
            return bool(first == second)
        if kind is int and INT64_MIN <= first <= INT64_MAX and INT64_MIN <= second <= INT64_MAX:
            return bool(first == second)
        raise _Undecided  # doubles, lists and maps
    first_kind, other_kind = _KINDS.get(kind), _KINDS.get(other)
    if first_kind is not None and other_kind is not None and first_kind != other_kind:
        return False
    raise _Undecided  # an int and a double, or a type this module does not know


# The kinds CEL's heterogeneous equality tells apart: numbers of any type may be equal.
_KINDS: dict[type, str] = {
    str: "string",
    bool: "bool",
    _NONE: "null",
    int: "number",
    float: "number",
    list: "list",
    dict: "map",
}


def _equals(first: Any, second: Any) -> bool:
    return _equal(first, second)


def _differs(first: Any, second: Any) -> bool:
    return not _equal(first, second)


def _ordered(first: Any, second: Any) -> bool:
    """Whether `first` and `second` are ordered the same way by CEL and Python."""
    kind = type(first)
    if kind is not type(second) or kind not in _COMPARABLE:
        return False
    return kind is not int or (INT64_MIN <= first <= INT64_MAX and INT64_MIN <= second <= INT64_MAX)


def _less(first: Any, second: Any) -> bool:
    if _ordered(first, second):
        return bool(first < second)
    raise _Undecided


def _less_equal(first: Any, second: Any) -> bool:
    if _ordered(first, second):
        return bool(first <= second)
    raise _Undecided


def _greater(first: Any, second: Any) -> bool:
    return _less(second, first)


def _greater_equal(first: Any, second: Any) -> bool:
    return _less_equal(second, first)


def _member(needle: Any, haystack: Any) -> bool:
    if type(haystack) is dict and type(needle) is str:
        return needle in haystack
    if type(haystack) is list:
        return any(_equal(needle, item) for item in haystack)
    raise _Undecided


_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "_==_": _equals,
    "_!=_": _differs,
    "_<_": _less,
    "_<=_": _less_equal,
    "_>_": _greater,
    "_>=_": _greater_equal,
    "@in": _member,
}
# Python's comparison of a value with a constant on the right, and on the left (swapped).
_ORDERINGS: dict[str, tuple[Callable[[Any, Any], bool], Callable[[Any, Any], bool]]] = {
    "_<_": (operator.lt, operator.gt),
    "_<=_": (operator.le, operator.ge),
    "_>_": (operator.gt, operator.lt),
    "_>=_": (operator.ge, operator.le),
}


def _binary(function: Callable[[Any, Any], bool], left: Step, right: Step) -> Step:
    def binary(env: Env) -> bool:
        return function(left(env), right(env))

    return binary


def _with_constant(
    name: str,
    function: Callable[[Any, Any], bool],
    step: Step,
    value: Any,
    *,
    constant_first: bool,
) -> Step:
    """`function` of a step's value and a constant, with the common case (a value of the
    constant's type: a string, a 64-bit int, a bool) decided without another call."""
    kind = type(value)
    if name in ("_==_", "_!=_") and kind in _COMPARABLE:
        differ = name == "_!=_"  # equality is symmetric: the constant's side does not matter

        def equality(env: Env) -> bool:
            found = step(env)
            if type(found) is kind and (kind is not int or INT64_MIN <= found <= INT64_MAX):
                return (found == value) is not differ
            return function(found, value)

        return equality
    orderings = _ORDERINGS.get(name)
    if orderings is not None and kind in _COMPARABLE:
        compare = orderings[1] if constant_first else orderings[0]

        def ordered(env: Env) -> bool:
            found = step(env)
            if type(found) is kind and (kind is not int or INT64_MIN <= found <= INT64_MAX):
                return bool(compare(found, value))
            return function(value, found) if constant_first else function(found, value)

        return ordered
    if name == "@in" and constant_first and kind is str:

        def contains_key(env: Env) -> bool:
            found = step(env)
            if type(found) is dict:
                return value in found
            return function(value, found)

        return contains_key
    if constant_first:

        def constant_left(env: Env) -> bool:
            return function(value, step(env))

        return constant_left

    def constant_right(env: Env) -> bool:
        return function(step(env), value)

    return constant_right


def _size(operand: Step) -> Step:
    def size(env: Env) -> int:
        value = operand(env)
        kind = type(value)
        if kind is str or kind is list or kind is dict:
            return len(value)  # a string's size counts code points, as Python's len
        raise _Undecided

    return size


def _string_test(test: Callable[[str, str], bool]) -> Callable[[Step, Step], Step]:
    def build(target: Step, argument: Step) -> Step:
        def string_test(env: Env) -> bool:
            text, part = target(env), argument(env)
            if type(text) is str and type(part) is str:
                return test(text, part)
            raise _Undecided

        return string_test

    return build


_CALLS: dict[tuple[str, int], Callable[..., Step]] = {
    ("_[_]", 2): _index,
    ("!_", 1): _not,
    ("_&&_", 2): _and,
    ("_||_", 2): _or,
    ("_?_:_", 3): _conditional,
    ("size", 1): _size,
    ("startsWith", 2): _string_test(str.startswith),
    ("endsWith", 2): _string_test(str.endswith),
    ("contains", 2): _string_test(str.__contains__),
}


def _comprehension(node: Node, scope: frozenset[str]) -> Step | None:
    """`all` and `exists` as CEL's parser expands them; other comprehensions are left out."""
    accumulator, variable = node.accu_var, node.iter_var
    init, condition = node.part("init"), node.part("condition")
    step, result = node.part("step"), node.part("result")
    if not (
        init.kind == "const"
        and init.name == "bool"
        and result.kind == "ident"
        and result.name == accumulator
        and condition.kind == "call"
        and condition.name == "@not_strictly_false"
        and len(condition.children) == 1
        and step.kind == "call"
        and len(step.children) == 2
        and step.children[0].kind == "ident"
        and step.children[0].name == accumulator
    ):
        return None
    universal = init.value is True
    guard = condition.children[0]
    if universal:  # all: init true, loop while the result is not false, result && predicate
        shape = step.name == "_&&_" and guard == step.children[0]
    else:  # exists: init false, loop while !result is not false, result || predicate
        shape = (
            step.name == "_||_"
            and guard.kind == "call"
            and guard.name == "!_"
            and guard.children == (step.children[0],)
        )
    if not shape or accumulator in scope:
        return None
    source = _compile(node.part("range"), scope)
    predicate = _compile(step.children[1], (scope - {accumulator}) | {variable})
    if source is None or predicate is None:
        return None
    return _loop(source, predicate, variable, stop=not universal)


def _loop(source: Step, predicate: Step, variable: str, *, stop: bool) -> Step:
    """`exists` (stop at the first True) or `all` (stop at the first False)."""

    def loop(env: Env) -> bool:
        items = source(env)
        kind = type(items)
        if kind is not list and kind is not dict:
            raise _Undecided  # CEL iterates over lists and the keys of maps only
        # CEL stops at the first decisive element; a map's keys may come in another order
        # there, so every key is tried here (an undecided one leaves the answer to CEL).
        early = kind is list
        decisive, other = stop, not stop
        counter = env[_STEPS]
        inner = dict(env)
        found = False
        for item in items:
            counter[0] += 1
            if counter[0] > MAX_STEPS:
                raise _Undecided
            inner[variable] = item
            value = predicate(inner)
            if value is decisive:
                if early:
                    return stop
                found = True
            elif value is not other:
                raise _Undecided
        return stop if found else not stop

    return loop
