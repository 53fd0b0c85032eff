"""The impact of a policy change: both policy sets on the same manifests, compared per object.

A finding is identified by policy, rule, container and field, so a rule that newly catches a
second container of an already denied object still shows up as a new denial.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from webhook.dryrun import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_VIOLATIONS,
    ObjectResult,
    check_manifest,
    namespace_labels_of,
    planned_lookups,
)
from webhook.engine import ask_verifier
from webhook.errors import ManifestError
from webhook.findings import Finding, Mode
from webhook.manifests import manifest_files, read_source
from webhook.policy.compiled import PolicySet
from webhook.signatures.api import SignatureRequest, Verifier

FindingKey = tuple[str, str, str | None, str]


def _key(finding: Finding) -> FindingKey:
    return (finding.policy, finding.rule, finding.container, finding.path)


def _failed(result: ObjectResult, mode: Mode) -> list[Finding]:
    return [finding for finding in result.failures if finding.mode is mode]


def _new(before: list[Finding], after: list[Finding]) -> tuple[Finding, ...]:
    known = {_key(finding) for finding in before}
    return tuple(finding for finding in after if _key(finding) not in known)


class Change(StrEnum):
    """What a policy change does to one object."""

    NEWLY_DENIED = "newly-denied"
    NEWLY_ADMITTED = "newly-admitted"
    DENIED_FOR_OTHER_REASONS = "denied-for-other-reasons"  # denied by both, by other rules
    NEWLY_WARNED = "newly-warned"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ObjectImpact:
    """One object under the base and the head policies, and what changed between them."""

    base: ObjectResult
    head: ObjectResult
    new_denials: tuple[Finding, ...]  # enforce failures only the head policies report
    lifted_denials: tuple[Finding, ...]  # enforce failures only the base policies report
    new_warnings: tuple[Finding, ...]  # warn-mode failures only the head policies report

    @classmethod
    def of(cls, base: ObjectResult, head: ObjectResult) -> ObjectImpact:
        base_denials, head_denials = _failed(base, Mode.ENFORCE), _failed(head, Mode.ENFORCE)
        return cls(
            base=base,
            head=head,
            new_denials=_new(base_denials, head_denials),
            lifted_denials=_new(head_denials, base_denials),
            new_warnings=_new(_failed(base, Mode.WARN), _failed(head, Mode.WARN)),
        )

    @property
    def base_allowed(self) -> bool:
        return not _failed(self.base, Mode.ENFORCE)

    @property
    def head_allowed(self) -> bool:
        return not _failed(self.head, Mode.ENFORCE)

    @property
    def newly_denied(self) -> bool:
        return self.base_allowed and not self.head_allowed

    @property
    def newly_admitted(self) -> bool:
        return not self.base_allowed and self.head_allowed

    @property
    def change(self) -> Change:
        if self.newly_denied:
            return Change.NEWLY_DENIED
        if self.newly_admitted:
            return Change.NEWLY_ADMITTED
        if self.new_denials or self.lifted_denials:
            return Change.DENIED_FOR_OTHER_REASONS
        if self.new_warnings:
            return Change.NEWLY_WARNED
        return Change.UNCHANGED


@dataclass(frozen=True, slots=True)
class ImpactCounts:
    objects: int
    files: int
    errors: int
    newly_denied: int
    newly_admitted: int
    newly_warned: int
    denied_for_other_reasons: int
    base_denied: int
    head_denied: int


@dataclass(slots=True)
class ImpactReport:
    objects: list[ObjectImpact] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    files: int = 0

    @property
    def changes(self) -> list[ObjectImpact]:
        return [impact for impact in self.objects if impact.change is not Change.UNCHANGED]

    def counts(self) -> ImpactCounts:
        """Objects per change (each object counts once, under its most important change)."""
        objects = self.objects
        changes = Counter(impact.change for impact in objects)
        return ImpactCounts(
            objects=len(objects),
            files=self.files,
            errors=len(self.errors),
            newly_denied=changes[Change.NEWLY_DENIED],
            newly_admitted=changes[Change.NEWLY_ADMITTED],
            newly_warned=changes[Change.NEWLY_WARNED],
            denied_for_other_reasons=changes[Change.DENIED_FOR_OTHER_REASONS],
            base_denied=sum(1 for impact in objects if not impact.base_allowed),
            head_denied=sum(1 for impact in objects if not impact.head_allowed),
        )

    @property
    def exit_code(self) -> int:
        """2 for unreadable manifests, 1 when the head policies deny an object the base admits."""
        if self.errors:
            return EXIT_BAD_INPUT
        if any(impact.newly_denied for impact in self.objects):
            return EXIT_VIOLATIONS
        return EXIT_OK


async def _verify(
    verifier: Verifier, wanted: list[SignatureRequest], timeout: float
) -> dict[Any, Any]:
    try:
        return await ask_verifier(verifier, wanted, timeout=timeout)
    finally:
        await verifier.aclose()


def run_diff(
    paths: Iterable[str],
    *,
    base: PolicySet,
    head: PolicySet,
    today: date | None = None,
    verifier: Verifier | None = None,
    timeout: float = 30.0,
) -> ImpactReport:
    """Evaluate every manifest under `paths` with both policy sets; bad files become errors.

    With a `verifier`, the image signatures either set asks for are verified once, so both
    sets judge the same answers; without one, signature rules fail as not verified.
    """
    report = ImpactReport()
    sources = [read_source(file) for file in manifest_files(paths)]
    report.files = len(sources)
    labels = namespace_labels_of(sources)
    lookups: dict[Any, Any] = {}
    if verifier is not None:
        wanted = list(
            dict.fromkeys(
                [
                    *planned_lookups(sources, base, labels),
                    *planned_lookups(sources, head, labels),
                ]
            )
        )
        if wanted:
            import asyncio  # only when signatures are verified

            lookups = asyncio.run(_verify(verifier, wanted, timeout))
    for source in sources:
        report.errors.extend(source.errors)
        for manifest in source.manifests:
            report.objects.append(
                ObjectImpact.of(
                    check_manifest(manifest, base, labels, today=today, lookups=lookups),
                    check_manifest(manifest, head, labels, today=today, lookups=lookups),
                )
            )
    return report
