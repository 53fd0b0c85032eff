"""Secrets in Git: plain-text Secret manifests are findings; SOPS-encrypted ones pass; pure.

Only meaningful on manifests from Git (`check`): in the cluster every Secret carries its data
(a SealedSecret controller or SOPS decryption put it there), so the webhook skips this check.
A SealedSecret is encrypted by construction and passes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from webhook.checks.base import (
    CheckDefinition,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
    NoParams,
)
from webhook.findings import Violation
from webhook.workload import escape_pointer

# A value SOPS encrypted: `ENC[AES256_GCM,data:...,iv:...,tag:...,type:str]`.
SOPS_VALUE = re.compile(r"^ENC\[[A-Z0-9_]+,data:[^\]]*\]$")
SECTIONS = ("data", "stringData")


def sops_metadata(obj: dict[str, Any]) -> bool:
    """True when the object carries the `sops` block SOPS writes (with its message digest)."""
    block = obj.get("sops")
    return isinstance(block, dict) and isinstance(block.get("mac"), str)


def check_plain_secret(ctx: EvaluationContext) -> Sequence[Violation]:
    if ctx.kind != "Secret" or ctx.group != "":
        return []
    encrypted = sops_metadata(ctx.object)
    violations = []
    for section in SECTIONS:
        values = ctx.object.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if encrypted and isinstance(value, str) and SOPS_VALUE.match(value):
                continue
            hint = (
                "this value is not SOPS-encrypted (check the creation rule's encrypted_regex)"
                if encrypted
                else "encrypt it with SOPS or replace the Secret with a SealedSecret"
            )
            violations.append(
                Violation(
                    message=f"Secret holds {section}.{key} in plain text in Git: {hint}",
                    path=f"/{section}/{escape_pointer(str(key))}",
                )
            )
    return violations


def compile_plain_secret(_: CompileInput[NoParams]) -> CompiledCheck:
    return CompiledCheck(
        run=check_plain_secret, pod_only=False, offline_only=True, reads_managed_fields=False
    )


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    CheckDefinition(
        name="secretsInGit",
        params=NoParams,
        compile=compile_plain_secret,
        summary="A Secret manifest in Git carries no plain-text data (use SOPS or Sealed Secrets).",
    ),
]
