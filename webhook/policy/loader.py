"""Policy files -> a compiled PolicySet. Every error names the file, the line and the reason.

Reads `*.yaml`/`*.yml` files (one or more documents each) from files or directories; skips
hidden directories and directories named `tests` (policy test suites live there). Documents of
kind `PolicyTest` belong to `policy-webhook test` and are passed over here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from webhook.cel import CELCompileError, compile_expression
from webhook.checks import CHECKS
from webhook.checks.expression import expression_check
from webhook.checks.expression_group import ExpressionGroup
from webhook.errors import PolicyLoadError, PolicySetError
from webhook.policy.compiled import CompiledMutation, CompiledPolicy, CompiledRule, PolicySet
from webhook.policy.exceptions import (
    CompiledException,
    compile_exception,
    duplicate_names,
    unknown_targets,
)
from webhook.policy.matching import KindPattern, compile_match
from webhook.policy.model import PolicyDocument, PolicyExceptionDocument, RuleSpec
from webhook.yamldoc import YAMLDocument, YAMLDocumentError, iter_documents, line_of

POLICY_SUFFIXES = (".yaml", ".yml")
SKIPPED_DIRECTORIES = frozenset({"tests"})
IGNORED_KINDS = frozenset({"PolicyTest"})
MAX_POLICY_FILE_BYTES = 1024 * 1024
MAX_POLICY_NODES = 100_000  # per file, aliases expanded: policies are small

LoadedDocument = CompiledPolicy | CompiledException


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """Every policy file under `paths`, sorted; raises PolicyLoadError for a missing path."""
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                candidate
                for candidate in sorted(path.rglob("*"))
                if candidate.is_file()
                and candidate.suffix in POLICY_SUFFIXES
                and not _skipped(candidate.relative_to(path))
            )
        else:
            raise PolicyLoadError(str(path), None, "no such file or directory")
    return files


def _skipped(relative: Path) -> bool:
    return any(
        part.startswith(".") or part in SKIPPED_DIRECTORIES for part in relative.parts[:-1]
    ) or relative.name.startswith(".")


def load_policy_set(paths: Sequence[Path | str]) -> PolicySet:
    """Load and compile every policy under `paths`; raises PolicySetError listing every error."""
    errors: list[PolicyLoadError] = []
    policies: list[CompiledPolicy] = []
    exceptions: list[CompiledException] = []
    seen: dict[str, CompiledPolicy] = {}
    group = ExpressionGroup()  # the set's CEL rules share activations
    try:
        files = policy_files(Path(path) for path in paths)
    except PolicyLoadError as error:
        raise PolicySetError([error]) from None
    for file in files:
        try:
            loaded = load_file(file, group=group)
        except PolicyLoadError as error:
            errors.append(error)
            continue
        except PolicySetError as error:
            errors.extend(error.errors)
            continue
        for item in loaded:
            if isinstance(item, CompiledPolicy):
                earlier = seen.get(item.name)
                if earlier is not None:
                    errors.append(
                        PolicyLoadError(
                            item.source,
                            item.line,
                            f"duplicate policy name {item.name!r} "
                            f"(also in {earlier.source}:{earlier.line})",
                        )
                    )
                    continue
                seen[item.name] = item
                policies.append(item)
            else:
                exceptions.append(item)
    errors.extend(duplicate_names(exceptions))
    errors.extend(
        unknown_targets(
            exceptions, {policy.name: [rule.name for rule in policy.rules] for policy in policies}
        )
    )
    if errors:
        raise PolicySetError(errors)
    if not policies:
        where = ", ".join(str(path) for path in paths)
        raise PolicySetError([PolicyLoadError(where, None, "no policies found")])
    return PolicySet(policies=tuple(policies), exceptions=tuple(exceptions))


def load_file(file: Path, *, group: ExpressionGroup | None = None) -> list[LoadedDocument]:
    """Load one file; raises PolicySetError with an error per bad document. Its CEL rules join
    `group` (a new one when None)."""
    name = str(file)
    try:
        if file.stat().st_size > MAX_POLICY_FILE_BYTES:
            raise PolicyLoadError(name, None, f"file is larger than {MAX_POLICY_FILE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PolicyLoadError(name, None, f"not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise PolicyLoadError(name, None, f"cannot read: {error.strerror}") from None
    try:
        documents = list(iter_documents(text, max_nodes=MAX_POLICY_NODES))
    except YAMLDocumentError as error:
        raise PolicyLoadError(name, error.line, f"invalid YAML: {error.reason}") from None
    loaded: list[LoadedDocument] = []
    errors: list[PolicyLoadError] = []
    for document in documents:
        try:
            item = _load_document(document, file, group)
        except PolicyLoadError as error:
            errors.append(error)
            continue
        if item is not None:
            loaded.append(item)
    if errors:
        raise PolicySetError(errors)
    return loaded


def _load_document(
    document: YAMLDocument, file: Path, group: ExpressionGroup | None
) -> LoadedDocument | None:
    value = document.value
    name = str(file)
    if not isinstance(value, dict):
        raise PolicyLoadError(name, document.line, "a policy document must be a mapping")
    kind = value.get("kind")
    if kind in IGNORED_KINDS:
        return None
    model: type[PolicyDocument] | type[PolicyExceptionDocument]
    if kind == "Policy":
        model = PolicyDocument
    elif kind == "PolicyException":
        model = PolicyExceptionDocument
    else:
        raise PolicyLoadError(
            name, document.line, f"kind {kind!r} is not Policy, PolicyException or PolicyTest"
        )
    try:
        parsed = model.model_validate(value)
    except ValidationError as error:
        raise _validation_error(error, document, name, ()) from None
    if isinstance(parsed, PolicyExceptionDocument):
        return compile_exception(parsed, document, file)
    return compile_policy(parsed, document, file, group=group)


def _validation_error(
    error: ValidationError, document: YAMLDocument, file: str, prefix: Sequence[str | int]
) -> PolicyLoadError:
    first = error.errors()[0]
    location = [*prefix, *(step for step in first["loc"] if isinstance(step, str | int))]
    line = document.line_of(location)
    field = ".".join(str(step) for step in location) or "document"
    count = error.error_count()
    more = f" (and {count - 1} more error{'s' if count > 2 else ''})" if count > 1 else ""
    return PolicyLoadError(file, line, f"{field}: {first['msg']}{more}")


def compile_policy(
    document: PolicyDocument,
    source: YAMLDocument,
    file: Path,
    *,
    group: ExpressionGroup | None = None,
) -> CompiledPolicy:
    """Compile a validated policy; raises PolicyLoadError for bad check parameters or CEL.
    Its CEL rules join `group` (a new one when None)."""
    spec = document.spec
    if group is None:
        group = ExpressionGroup()
    match = compile_match(spec.match, policy_level=True, expand_pods=True)
    explicit_kinds = tuple(KindPattern.parse(text) for text in spec.match.kinds)
    rules = tuple(
        _compile_rule(rule, index, document, source, file, explicit_kinds, group)
        for index, rule in enumerate(spec.rules)
    )
    return CompiledPolicy(
        name=document.metadata.name,
        description=document.description,
        mode=spec.mode,
        match=match,
        exclude=compile_match(spec.exclude, policy_level=False, expand_pods=False)
        if spec.exclude
        else None,
        rules=rules,
        mutations=tuple(
            CompiledMutation(name=item.name, defaults=item.defaults.model_dump())
            for item in spec.mutate
        ),
        source=str(file),
        line=source.line,
    )


def _compile_rule(
    rule: RuleSpec,
    index: int,
    document: PolicyDocument,
    source: YAMLDocument,
    file: Path,
    explicit_kinds: tuple[KindPattern, ...],
    group: ExpressionGroup,
) -> CompiledRule:
    where: list[str | int] = ["spec", "rules", index]
    if rule.check is not None:
        definition = CHECKS.get(rule.check)
        if definition is None:
            known = ", ".join(sorted(CHECKS))
            raise PolicyLoadError(
                str(file),
                line_of(source.node, [*where, "check"]) if source.node else None,
                f"rule {rule.name!r}: unknown check {rule.check!r} (known: {known})",
            )
        try:
            check = definition.build(rule.with_, file.parent)
        except ValidationError as error:
            wrapped = _validation_error(error, source, str(file), [*where, "with"])
            raise PolicyLoadError(
                wrapped.file, wrapped.line, f"rule {rule.name!r} ({rule.check}): {wrapped.reason}"
            ) from None
        except ValueError as error:
            raise PolicyLoadError(
                str(file),
                source.line_of([*where, "with"]),
                f"rule {rule.name!r} ({rule.check}): {error}",
            ) from None
        check_name = rule.check
        summary = definition.summary
    else:
        assert rule.expression is not None and rule.message is not None
        try:
            program = compile_expression(rule.expression)
        except CELCompileError as error:
            raise PolicyLoadError(
                str(file),
                source.line_of([*where, "expression"]),
                f"rule {rule.name!r}: invalid CEL expression: {error}",
            ) from None
        check = expression_check(
            program, rule.message, explicit_kinds, document.spec.params, group=group
        )
        check_name = "expression"
        summary = f"CEL rule: {rule.message} (requires `{rule.expression.strip()}`)"
    return CompiledRule(
        name=rule.name,
        mode=rule.mode or document.spec.mode,
        check=check,
        check_name=check_name,
        message=rule.message if rule.check is not None else None,
        match=compile_match(rule.match, policy_level=False, expand_pods=True)
        if rule.match
        else None,
        exclude=compile_match(rule.exclude, policy_level=False, expand_pods=False)
        if rule.exclude
        else None,
        summary=summary,
    )
