"""Secrets in Git: plain-text Secret manifests are findings; SOPS-encrypted ones pass; pure.

Only meaningful on manifests from Git (`check`): in the cluster every Secret carries its data,
so the webhook skips this check.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.checks.base import (
    CheckDefinition,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
    NoParams,
)
from webhook.findings import Violation

SOPS_PREFIX = "ENC["


def check_plain_secret(ctx: EvaluationContext) -> Sequence[Violation]:
    if not ctx.offline or ctx.kind != "Secret" or ctx.group != "":
        return []
    encrypted_by_sops = isinstance(ctx.object.get("sops"), dict)
    violations = []
    for section in ("data", "stringData"):
        values = ctx.object.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if encrypted_by_sops and isinstance(value, str) and value.startswith(SOPS_PREFIX):
                continue
            violations.append(
                Violation(
                    message=f"Secret holds {section}.{key} in plain text in Git: encrypt it "
                    "with SOPS or replace the Secret with a SealedSecret",
                    path=f"/{section}/{key.replace('~', '~0').replace('/', '~1')}",
                )
            )
    return violations


def compile_plain_secret(_: CompileInput[NoParams]) -> CompiledCheck:
    return CompiledCheck(run=check_plain_secret, pod_only=False)


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    CheckDefinition(
        name="secretsInGit",
        params=NoParams,
        compile=compile_plain_secret,
        summary="A Secret manifest in Git carries no plain-text data (use SOPS or Sealed Secrets).",
    ),
]
