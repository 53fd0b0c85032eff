"""The checked syntax tree of a compiled CEL expression, read from its serialized form; pure.

cel-expr-python serializes a compiled expression as a `google.protobuf.Any` holding a
`cel.expr.CheckedExpr`. Without the generated classes, the fields are read as protobuf's
unknown fields; the numbers are those of cel/expr/syntax.proto and checked.proto.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from google.protobuf import empty_pb2, unknown_fields

ANY_VALUE = 2
CHECKED_EXPR = 4
EXPR_CONST, EXPR_IDENT, EXPR_SELECT, EXPR_CALL = 3, 4, 5, 6
EXPR_LIST, EXPR_STRUCT, EXPR_COMPREHENSION = 7, 8, 9
CONST_NULL, CONST_BOOL, CONST_INT, CONST_UINT, CONST_DOUBLE = 1, 2, 3, 4, 5
CONST_STRING, CONST_BYTES = 6, 7
SELECT_OPERAND, SELECT_FIELD, SELECT_TEST_ONLY = 1, 2, 3
STRUCT_ENTRY, ENTRY_KEY, ENTRY_VALUE = 2, 3, 4
# Comprehension: iter_var, iter_range, accu_var, accu_init, loop_condition, loop_step, result.
COMPREHENSION_PARTS = {2: "range", 4: "init", 5: "condition", 6: "step", 7: "result"}


@dataclass(frozen=True, slots=True)
class Node:
    """One expression: `kind` is const, ident, select, call, list, struct or comprehension.

    `name` is the identifier, selected field or called function, or the type of a constant
    ("null", "bool", "int", "uint", "double", "string", "bytes"); `text` the value of a string
    or bytes constant, `value` that of any constant; `children` the
    operands in order (a member call's target first). `test_only` marks the selection of a
    `has()` test. A comprehension keeps its variables and its parts (range, init, condition,
    step, result) by name.
    """

    kind: str
    name: str = ""
    text: str | None = None
    children: tuple[Node, ...] = ()
    iter_var: str = ""
    accu_var: str = ""
    parts: tuple[tuple[str, Node], ...] = ()
    test_only: bool = False
    value: bool | int | float | str | bytes | None = None

    def part(self, name: str) -> Node:
        return dict(self.parts).get(name, CONSTANT)


CONSTANT = Node(kind="const")


def field_chain(node: Node) -> tuple[str, tuple[str, ...]] | None:
    """`node` as an identifier and the keys selected from it (fields, or indexes by a string
    constant), in order; None for another shape. A `has()` test may only be the last step."""
    keys: list[str] = []
    current = node
    while True:
        if current.kind == "select" and len(current.children) == 1:
            if current.test_only and current is not node:
                return None
            keys.append(current.name)
            current = current.children[0]
        elif (
            current.kind == "call"
            and current.name == "_[_]"
            and len(current.children) == 2
            and current.children[1].kind == "const"
            and current.children[1].name == "string"
            and current.children[1].text is not None
        ):
            keys.append(current.children[1].text)
            current = current.children[0]
        else:
            break
    if current.kind != "ident":
        return None
    return current.name, tuple(reversed(keys))


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields = unknown_fields.UnknownFieldSet(empty_pb2.Empty.FromString(data))
    return [(fields[i].field_number, fields[i].data) for i in range(len(fields))]


def _bytes(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else b""


def _text(value: int | bytes) -> str:
    return _bytes(value).decode("utf-8", "replace")


def syntax_tree(serialized: bytes) -> Node:
    """The root of a serialized CheckedExpr (wrapped in Any)."""
    for number, value in _fields(serialized):
        if number == ANY_VALUE:
            for inner, expr in _fields(_bytes(value)):
                if inner == CHECKED_EXPR:
                    return _expr(_bytes(expr))
    return CONSTANT


def _expr(data: bytes) -> Node:
    for number, value in _fields(data):
        body = _bytes(value)
        if number == EXPR_CONST:
            return _const(body)
        if number == EXPR_IDENT:
            return Node(kind="ident", name=_named(body, 1))
        if number == EXPR_SELECT:
            fields = _fields(body)
            operand = [_expr(_bytes(v)) for n, v in fields if n == SELECT_OPERAND]
            return Node(
                kind="select",
                name=next((_text(v) for n, v in fields if n == SELECT_FIELD), ""),
                children=tuple(operand),
                test_only=any(n == SELECT_TEST_ONLY and v == 1 for n, v in fields),
            )
        if number == EXPR_CALL:
            fields = _fields(body)
            target = [_expr(_bytes(v)) for n, v in fields if n == 1]
            arguments = [_expr(_bytes(v)) for n, v in fields if n == 3]
            function = next((_text(v) for n, v in fields if n == 2), "")
            return Node(kind="call", name=function, children=(*target, *arguments))
        if number == EXPR_LIST:
            elements = [_expr(_bytes(v)) for n, v in _fields(body) if n == 1]
            return Node(kind="list", children=tuple(elements))
        if number == EXPR_STRUCT:
            return Node(kind="struct", children=tuple(_entries(body)))
        if number == EXPR_COMPREHENSION:
            return _comprehension(body)
    return CONSTANT


def _named(data: bytes, field: int) -> str:
    return next((_text(value) for number, value in _fields(data) if number == field), "")


def _const(data: bytes) -> Node:
    for number, value in _fields(data):
        if number == CONST_STRING:
            text = _text(value)
            return Node(kind="const", name="string", text=text, value=text)
        if number == CONST_BYTES:
            raw = _bytes(value)
            return Node(kind="const", name="bytes", text=raw.decode("latin-1"), value=raw)
        if isinstance(value, int):
            scalar = _scalar(number, value)
            if scalar is not None:
                return scalar
    return CONSTANT


def _scalar(number: int, value: int) -> Node | None:
    """A null, bool, int, uint or double constant (varints and fixed64 read as unsigned)."""
    if number == CONST_NULL:
        return Node(kind="const", name="null")
    if number == CONST_BOOL:
        return Node(kind="const", name="bool", value=bool(value))
    if number == CONST_INT:
        return Node(kind="const", name="int", value=value - (1 << 64) if value >> 63 else value)
    if number == CONST_UINT:
        return Node(kind="const", name="uint", value=value)
    if number == CONST_DOUBLE:
        (double,) = struct.unpack("<d", value.to_bytes(8, "little"))
        return Node(kind="const", name="double", value=double)
    return None


def _entries(data: bytes) -> list[Node]:
    nodes = []
    for number, value in _fields(data):
        if number == STRUCT_ENTRY:
            for part, child in _fields(_bytes(value)):
                if part in (ENTRY_KEY, ENTRY_VALUE):
                    nodes.append(_expr(_bytes(child)))
    return nodes


def _comprehension(data: bytes) -> Node:
    fields = _fields(data)
    return Node(
        kind="comprehension",
        iter_var=next((_text(v) for n, v in fields if n == 1), ""),
        accu_var=next((_text(v) for n, v in fields if n == 3), ""),
        parts=tuple(
            (COMPREHENSION_PARTS[n], _expr(_bytes(v)))
            for n, v in fields
            if n in COMPREHENSION_PARTS
        ),
    )


def walk(root: Node) -> list[Node]:
    """Every node under `root` (itself included), without recursion."""
    nodes, stack = [], [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children)
        stack.extend(part for _, part in node.parts)
    return nodes
