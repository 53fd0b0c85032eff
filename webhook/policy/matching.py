"""Match and exclude blocks compiled into predicates over a request; pure.

Kinds are `Kind` (any API group), `group/Kind` (core group: `core/Pod` or `/Pod`) or globs.
A policy that matches Pods also matches the pod template of every workload kind. Namespace
labels the caller could not get are `UnknownLabels`: a block whose answer depends on them
decides `Match.UNKNOWN` rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase, translate

from webhook.policy.model import LabelSelector, MatchBlock
from webhook.review import AdmissionRequest
from webhook.workload import POD_TEMPLATE_PATHS

DEFAULT_OPERATIONS = frozenset({"CREATE", "UPDATE"})
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class Match(Enum):
    """Whether a block selects a request; UNKNOWN when that depends on unknown labels."""

    NO = 0
    YES = 1
    UNKNOWN = 2

    def __and__(self, other: Match) -> Match:
        if self is Match.NO or other is Match.NO:
            return Match.NO
        return Match.YES if self is other is Match.YES else Match.UNKNOWN

    def __invert__(self) -> Match:
        if self is Match.UNKNOWN:
            return self
        return Match.NO if self is Match.YES else Match.YES


class UnknownLabels(Mapping[str, str]):
    """The labels of a namespace that could not be had, with the reason.

    It reads as no labels (so code that only shows labels shows none), while selectors, and
    checks that read the labels, answer "unknown" instead of evaluating empty labels.
    """

    __slots__ = ("namespace", "reason")

    def __init__(self, namespace: str, reason: str) -> None:
        self.namespace = namespace
        self.reason = reason

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownLabels) and (other.namespace, other.reason) == (
            self.namespace,
            self.reason,
        )

    def __hash__(self) -> int:
        return hash((self.namespace, self.reason))

    def __repr__(self) -> str:
        return f"UnknownLabels({self.namespace!r}, {self.reason!r})"

    def describe(self) -> str:
        return f"the labels of namespace {self.namespace} are unknown ({self.reason})"


def _glob(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{translate(pattern)})" for pattern in patterns))


@dataclass(frozen=True, slots=True)
class KindPattern:
    group: str | None  # None: any group
    kind: str  # glob
    concrete: bool = field(init=False, compare=False)  # no glob characters in `kind`

    @classmethod
    def parse(cls, text: str) -> KindPattern:
        if "/" not in text:
            return cls(group=None, kind=text)
        prefix, _, kind = text.rpartition("/")
        group = prefix.split("/", 1)[0]  # group/version/Kind: the version does not matter
        return cls(group="" if group in ("", "core") else group, kind=kind)

    def matches(self, group: str, kind: str) -> bool:
        if self.group is not None and group != self.group and not fnmatchcase(group, self.group):
            return False
        return kind == self.kind or (not self.concrete and fnmatchcase(kind, self.kind))

    def __post_init__(self) -> None:
        object.__setattr__(self, "concrete", not _has_glob(self.kind))


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def expand_pod_kinds(patterns: Sequence[KindPattern]) -> tuple[KindPattern, ...]:
    """Add every pod-template kind when the patterns match Pods."""
    if not any(pattern.matches("", "Pod") for pattern in patterns):
        return tuple(patterns)
    extra = [KindPattern(group=group, kind=kind) for group, kind in POD_TEMPLATE_PATHS]
    return tuple(dict.fromkeys([*patterns, *extra]))


def selector_reads_labels(selector: LabelSelector | None) -> bool:
    """Whether the selector's answer depends on labels (an empty one matches everything)."""
    return selector is not None and bool(selector.matchLabels or selector.matchExpressions)


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    for key, value in selector.matchLabels.items():
        if labels.get(key) != value:
            return False
    for requirement in selector.matchExpressions:
        present = requirement.key in labels
        current = labels.get(requirement.key)
        operator = requirement.operator
        if operator == "In" and current not in requirement.values:
            return False
        if operator == "NotIn" and present and current in requirement.values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _labels_of(obj: Mapping[str, object]) -> Mapping[str, str]:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        labels = metadata.get("labels")
        if isinstance(labels, dict):
            return labels
    return {}


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled match (or exclude) block. `empty` blocks match everything."""

    kinds: tuple[KindPattern, ...]
    operations: frozenset[str] | None
    namespaces: re.Pattern[str] | None
    names: re.Pattern[str] | None
    object_selector: LabelSelector | None
    namespace_selector: LabelSelector | None
    users: re.Pattern[str] | None
    groups: re.Pattern[str] | None
    service_accounts: re.Pattern[str] | None
    subresources: frozenset[str]
    empty: bool
    # The namespaces when none of them is a glob: a set lookup instead of the pattern.
    namespace_names: frozenset[str] | None = None
    # The (group, kind) pairs of `kinds` when no pattern has a glob (group None: any group),
    # so selecting by kind is a set lookup; None when a pattern needs matching.
    kind_pairs: frozenset[tuple[str | None, str]] | None = field(
        init=False, compare=False, repr=False
    )
    any_subject: bool = field(init=False, compare=False, repr=False)  # no subject block
    # Decides from the request's group, kind, operation, subresource and namespace alone
    # (`selects_resource` and `selects_namespace`).
    static: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        literal = all(
            pattern.concrete and not _has_glob(pattern.group or "") for pattern in self.kinds
        )
        pairs = frozenset((pattern.group, pattern.kind) for pattern in self.kinds)
        object.__setattr__(self, "kind_pairs", pairs if literal else None)
        any_subject = self.users is None and self.groups is None and self.service_accounts is None
        object.__setattr__(self, "any_subject", any_subject)
        static = any_subject and self.names is None and self.object_selector is None
        object.__setattr__(self, "static", static and self.namespace_selector is None)

    def decide(
        self,
        request: AdmissionRequest,
        group: str,
        kind: str,
        namespace_labels: Mapping[str, str],
    ) -> Match:
        """YES or NO; UNKNOWN only when everything else matches and the namespace selector
        would need labels that are `UnknownLabels`."""
        if not self.selects_resource(group, kind, request.operation, request.subResource):
            return Match.NO
        if not self.selects_namespace(request.namespace):
            return Match.NO
        if self.names is not None and not self.names.fullmatch(request.name or ""):
            return Match.NO
        if self.object_selector is not None:
            old_labels = _labels_of(request.oldObject) if request.oldObject else None
            new_labels = _labels_of(request.object) if request.object else None
            # As the API server does: either the old or the new object may match.
            if not any(
                labels is not None and selector_matches(self.object_selector, labels)
                for labels in (new_labels, old_labels)
            ):
                return Match.NO
        if not self.any_subject and not self._subject_matches(request):
            return Match.NO
        selector = self.namespace_selector
        if selector is None:
            return Match.YES
        if not request.namespace and kind != "Namespace":
            return Match.NO
        if not selector_reads_labels(selector):
            return Match.YES
        if isinstance(namespace_labels, UnknownLabels):
            return Match.UNKNOWN
        return Match.YES if selector_matches(selector, namespace_labels) else Match.NO

    def selects_resource(self, group: str, kind: str, operation: str, subresource: str) -> bool:
        """Whether the block's kinds, operations and subresources select such a request."""
        if self.kinds:
            pairs = self.kind_pairs
            if pairs is not None:
                if (group, kind) not in pairs and (None, kind) not in pairs:
                    return False
            elif not any(pattern.matches(group, kind) for pattern in self.kinds):
                return False
        if self.operations is not None and operation not in self.operations:
            return False
        return not subresource or "*" in self.subresources or subresource in self.subresources

    def selects_namespace(self, namespace: str) -> bool:
        """Whether the block's namespaces select a request in `namespace`."""
        if self.namespaces is None:
            return True
        if not namespace:
            return False
        if self.namespace_names is not None:
            return namespace in self.namespace_names
        return self.namespaces.fullmatch(namespace) is not None

    def matches(
        self,
        request: AdmissionRequest,
        group: str,
        kind: str,
        namespace_labels: Mapping[str, str],
    ) -> bool:
        """True only when the block certainly selects the request (unknown labels: False)."""
        return self.decide(request, group, kind, namespace_labels) is Match.YES

    def _subject_matches(self, request: AdmissionRequest) -> bool:
        if self.users is None and self.groups is None and self.service_accounts is None:
            return True
        username = request.userInfo.username
        if self.users is not None and self.users.fullmatch(username):
            return True
        if self.groups is not None and any(
            self.groups.fullmatch(group) for group in request.userInfo.groups
        ):
            return True
        if self.service_accounts is not None and username.startswith(SERVICE_ACCOUNT_PREFIX):
            account = username[len(SERVICE_ACCOUNT_PREFIX) :]
            if self.service_accounts.fullmatch(account):
                return True
        return False


def compile_match(block: MatchBlock | None, *, policy_level: bool, expand_pods: bool) -> Matcher:
    """Compile a match or exclude block.

    At policy level, a block naming no operations means CREATE and UPDATE, and requests for a
    subresource match only when the block names it; elsewhere neither restriction applies.
    """
    block = block or MatchBlock()
    kinds = tuple(KindPattern.parse(text) for text in block.kinds)
    if expand_pods:
        kinds = expand_pod_kinds(kinds)
    if block.operations:
        operations: frozenset[str] | None = frozenset(block.operations)
    else:
        operations = DEFAULT_OPERATIONS if policy_level else None
    subjects = block.subjects
    empty = not (
        block.kinds
        or block.operations
        or block.namespaces
        or block.names
        or block.objectSelector
        or block.namespaceSelector
        or (subjects and (subjects.users or subjects.groups or subjects.serviceAccounts))
    )
    return Matcher(
        kinds=kinds,
        operations=operations,
        namespaces=_glob(block.namespaces),
        names=_glob(block.names),
        object_selector=block.objectSelector,
        namespace_selector=block.namespaceSelector,
        users=_glob(subjects.users) if subjects else None,
        groups=_glob(subjects.groups) if subjects else None,
        service_accounts=_glob(subjects.serviceAccounts) if subjects else None,
        subresources=frozenset(block.subresources or ([] if policy_level else ["*"])),
        empty=empty,
        namespace_names=None
        if any(_has_glob(name) for name in block.namespaces)
        else frozenset(block.namespaces),
    )
