"""The dry run behind `check`: manifests from Git through the same engine as the webhook."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from webhook.engine import ask_verifier, build_context, evaluate, plan_lookups
from webhook.errors import ManifestError
from webhook.findings import Finding, Mode, ObjectRef, Result
from webhook.manifests import Manifest, ManifestSource, manifest_files, read_source
from webhook.policy.compiled import PolicySet
from webhook.policy.exceptions import CompiledException
from webhook.review import request_for_manifest
from webhook.signatures.api import SignatureRequest, Verifier

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True, slots=True)
class ObjectResult:
    manifest: Manifest
    ref: ObjectRef
    findings: tuple[Finding, ...]

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.failed)

    @property
    def waived(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.result is Result.WAIVED)


@dataclass(slots=True)
class CheckReport:
    objects: list[ObjectResult] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    files: int = 0
    expired_exceptions: list[CompiledException] = field(default_factory=list)
    lookups: dict[Any, Any] = field(default_factory=dict)  # signature verification results

    @property
    def enforce_failures(self) -> int:
        return sum(
            1
            for result in self.objects
            for finding in result.failures
            if finding.mode is Mode.ENFORCE
        )

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_BAD_INPUT
        return EXIT_VIOLATIONS if self.enforce_failures else EXIT_OK


def object_ref(obj: Mapping[str, object]) -> ObjectRef:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return ObjectRef(
        api_version=str(obj.get("apiVersion", "")),
        kind=str(obj.get("kind", "")),
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or metadata.get("generateName") or ""),
    )


def namespace_labels_of(sources: Iterable[ManifestSource]) -> dict[str, dict[str, str]]:
    """Labels of the Namespace objects among the manifests, for namespaceSelector matching."""
    labels: dict[str, dict[str, str]] = {}
    for source in sources:
        for manifest in source.manifests:
            obj = manifest.object
            if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
                ref = object_ref(obj)
                metadata = obj.get("metadata")
                own = metadata.get("labels") if isinstance(metadata, dict) else None
                labels[ref.name] = {str(k): str(v) for k, v in (own or {}).items()}
    return labels


def check_manifest(
    manifest: Manifest,
    policies: PolicySet,
    namespace_labels: Mapping[str, Mapping[str, str]],
    *,
    today: date | None = None,
    lookups: Mapping[Any, Any] | None = None,
) -> ObjectResult:
    request = request_for_manifest(manifest.object)
    findings = evaluate(
        request,
        policies,
        namespace_labels=namespace_labels.get(request.namespace, {}),
        offline=True,
        today=today,
        lookups=lookups,
    )
    return ObjectResult(
        manifest=manifest, ref=object_ref(manifest.object), findings=tuple(findings)
    )


def planned_lookups(
    sources: Iterable[ManifestSource],
    policies: PolicySet,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> list[SignatureRequest]:
    """Every signature request the manifests' matching rules make, once each."""
    wanted: dict[SignatureRequest, None] = {}
    for source in sources:
        for manifest in source.manifests:
            request = request_for_manifest(manifest.object)
            if not policies.candidates(request.kind.kind, request.operation):
                continue
            context = build_context(
                request, namespace_labels=namespace_labels.get(request.namespace, {}), offline=True
            )
            for item in plan_lookups(context, policies):
                if isinstance(item, SignatureRequest):
                    wanted[item] = None
    return list(wanted)


async def _verify_all(
    verifier: Verifier, wanted: list[SignatureRequest], timeout: float
) -> dict[Any, Any]:
    try:
        return await ask_verifier(verifier, wanted, timeout=timeout)
    finally:
        await verifier.aclose()


def run_check(
    paths: Iterable[str],
    policies: PolicySet,
    *,
    today: date | None = None,
    verifier: Verifier | None = None,
    timeout: float = 30.0,
) -> CheckReport:
    """Check every manifest under `paths`; bad files are reported and the rest still checked.

    With `today`, PolicyExceptions active on that date waive failures and expired ones are listed.
    With a `verifier`, image signatures are verified first, all at once, within `timeout` seconds;
    without one, signature rules fail as not verified.
    """
    report = CheckReport()
    if today is not None:
        report.expired_exceptions = policies.expired_exceptions(today)

    def selected(kind: str) -> bool:
        # Objects no policy can select are read down to their metadata only.
        return bool(policies.candidates(kind, "CREATE"))

    sources = [read_source(file, wanted=selected) for file in manifest_files(paths)]
    report.files = len(sources)
    labels = namespace_labels_of(sources)
    wanted = planned_lookups(sources, policies, labels) if verifier is not None else []
    if verifier is not None and wanted:
        import asyncio  # only when signatures are verified

        report.lookups = asyncio.run(_verify_all(verifier, wanted, timeout))
    for source in sources:
        report.errors.extend(source.errors)
        for manifest in source.manifests:
            try:
                result = check_manifest(
                    manifest, policies, labels, today=today, lookups=report.lookups
                )
            except Exception as error:  # a bug must not hide the other objects' verdicts
                report.errors.append(
                    ManifestError(
                        manifest.file,
                        f"{object_ref(manifest.object)} could not be evaluated: "
                        f"{type(error).__name__}: {error}",
                        manifest.line,
                    )
                )
                continue
            report.objects.append(result)
    return report
