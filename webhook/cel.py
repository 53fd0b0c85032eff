"""CEL expressions for custom rules, with Kubernetes ValidatingAdmissionPolicy variables.

Backed by cel-expr-python (Google's CEL C++ runtime): expressions are parsed and type-checked
once at load; evaluation has an iteration budget, so no expression can stall the webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject")
MAX_EXPRESSION_LENGTH = 5000

_environment = cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES})


class CELCompileError(ValueError):
    """The expression does not parse or type-check."""


class CELEvaluationError(RuntimeError):
    """The expression failed at run time (missing field, budget exceeded, wrong type)."""


@dataclass(frozen=True, slots=True)
class CELProgram:
    source: str
    _expression: Any

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        """True when the rule passes; raises CELEvaluationError when it cannot be decided."""
        try:
            value = self._expression.eval(data=dict(variables))
        except RuntimeError as error:
            raise CELEvaluationError(_clean(str(error))) from None
        kind = value.type()
        if kind == cel.Type.BOOL:
            return bool(value.value())
        if kind == cel.Type.ERROR:
            raise CELEvaluationError(_clean(str(value.value())))
        raise CELEvaluationError(f"expression returned {kind.name()}, expected bool")


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
    return CELProgram(source=source, _expression=expression)


def _clean(text: str) -> str:
    for prefix in ("INVALID_ARGUMENT: ", "INTERNAL: ", "NOT_FOUND: ", "CANCELLED: "):
        text = text.replace(prefix, "")
    for suffix in (" [INVALID_ARGUMENT]", " [INTERNAL]", " [CANCELLED]"):
        text = text.replace(suffix, "")
    return text.strip()
