"""Policies compiled into ready-to-run rules, and the set of them indexed by kind and operation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from webhook.checks.base import CheckRun, CompiledCheck, PodCheckRun
from webhook.findings import Finding, Mode, Result
from webhook.policy.exceptions import CompiledException
from webhook.policy.matching import Match, Matcher, selector_reads_labels
from webhook.projection import PodReads, union

MAX_INDEX_ENTRIES = 4096
# (group, kind, operation, subresource) of requests
ResourceKey = tuple[str, str, str, str]
# A policy that selects requests of a ResourceKey, and the blocks that then decide by namespace:
# its match (None when it selects every namespace) and its exclude (None when it excludes no
# such request).
PlanEntry = tuple["CompiledPolicy", Matcher | None, Matcher | None]
Selected = tuple[tuple["CompiledPolicy", Match], ...]
_NO_PLAN = object()


@dataclass(frozen=True, slots=True)
class Selection:
    """The policies that select requests of one group, kind, operation and subresource, when
    each decides from those and the namespace alone."""

    entries: tuple[PlanEntry, ...]
    # When every block names its namespaces without globs: the policies for each namespace
    # some block names (and ""), and for every other namespace; worked out once.
    named: dict[str, Selected] | None = field(init=False, repr=False)
    others: Selected = field(init=False, repr=False)

    def __post_init__(self) -> None:
        blocks = [block for _, *pair in self.entries for block in pair if block is not None]
        names = {name for block in blocks for name in block.namespace_names or ()}
        named = None
        if all(block.namespace_names is not None for block in blocks):
            named = {name: self.decide(name) for name in (*names, "")}
        unnamed = "/"  # a namespace that no block names (no namespace has a "/" in its name)
        while unnamed in names:
            unnamed += "/"
        object.__setattr__(self, "named", named)
        object.__setattr__(self, "others", self.decide(unnamed))

    def select(self, namespace: str) -> Selected:
        """The policies that select such a request in `namespace`, in order."""
        if self.named is None:
            return self.decide(namespace)
        found = self.named.get(namespace)
        return self.others if found is None else found

    def decide(self, namespace: str) -> Selected:
        return tuple(
            (policy, Match.YES)
            for policy, match, exclude in self.entries
            if (match is None or match.selects_namespace(namespace))
            and (exclude is None or not exclude.selects_namespace(namespace))
        )


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    mode: Mode
    check: CompiledCheck
    check_name: str  # the built-in check, or "expression"
    message: str | None
    match: Matcher | None
    exclude: Matcher | None
    summary: str = ""  # what the rule requires, for reports (the check's summary, or the CEL)
    # Whether the rule narrows its policy's selection with a match or exclude block of its
    # own; most rules do not, and the engine then only asks the check's scope.
    scoped: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        excludes = self.exclude is not None and not self.exclude.empty
        object.__setattr__(self, "scoped", self.match is not None or excludes)


@dataclass(frozen=True, slots=True)
class RulePlan:
    """A rule ready for the engine: its PASS and SKIP findings, built once (they are the same
    on every request), and how its check runs when the policy selects the request."""

    rule: CompiledRule
    passed: Finding
    skipped: Finding
    # The check's entry on the pod view alone (skipped without a pod), or on the context
    # (skipped without a pod when `pod_only`); both None when the rule has a match or exclude
    # block of its own or its check runs only offline, and takes the general way.
    run_pod: PodCheckRun | None
    run: CheckRun | None
    pod_only: bool

    @classmethod
    def of(cls, policy: str, rule: CompiledRule) -> RulePlan:
        check = rule.check
        general = rule.scoped or check.offline_only
        return cls(
            rule=rule,
            passed=Finding(policy, rule.name, rule.mode, Result.PASS),
            skipped=Finding(policy, rule.name, rule.mode, Result.SKIP),
            run_pod=None if general or not check.pod_only else check.run_pod,
            run=None if general else check.run,
            pod_only=check.pod_only,
        )


@dataclass(frozen=True, slots=True)
class CompiledMutation:
    name: str
    defaults: dict[str, Any]  # {"pod": {...}, "containers": {...}}, validated at load


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    name: str
    description: str
    mode: Mode
    match: Matcher
    exclude: Matcher | None
    rules: tuple[CompiledRule, ...]
    mutations: tuple[CompiledMutation, ...]
    source: str  # file the policy came from
    line: int
    plans: tuple[RulePlan, ...] = field(init=False, compare=False, repr=False)
    # When every plan runs its check on the pod view alone (the Pod Security packs): each
    # check's entry, its PASS finding and its rule, in order; and the SKIP findings of all
    # rules, which an object without a pod spec gets.
    pod_runs: tuple[tuple[PodCheckRun, Finding, CompiledRule], ...] | None = field(
        init=False, compare=False, repr=False
    )
    skipped: tuple[Finding, ...] = field(init=False, compare=False, repr=False)
    # The PASS findings of all rules (what a pod that passes every check of `pod_runs` gets).
    passed: tuple[Finding, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        plans = tuple(RulePlan.of(self.name, rule) for rule in self.rules)
        object.__setattr__(self, "plans", plans)
        runs = [(plan.run_pod, plan.passed, plan.rule) for plan in plans if plan.run_pod]
        object.__setattr__(self, "pod_runs", tuple(runs) if len(runs) == len(plans) else None)
        object.__setattr__(self, "skipped", tuple(plan.skipped for plan in plans))
        object.__setattr__(self, "passed", tuple(plan.passed for plan in plans))

    @property
    def kind_keys(self) -> frozenset[str] | None:
        """The concrete kinds this policy can match, or None when it may match any kind."""
        if not self.match.kinds or not all(pattern.concrete for pattern in self.match.kinds):
            return None
        return frozenset(pattern.kind for pattern in self.match.kinds)


def reads_namespace_labels(*blocks: Matcher | None) -> bool:
    """Whether any of the blocks has a namespace selector that depends on labels."""
    return any(
        block is not None and selector_reads_labels(block.namespace_selector) for block in blocks
    )


def policy_reads_namespace_labels(policy: CompiledPolicy) -> bool:
    """Whether evaluating the policy may need the labels of the request's namespace."""
    return reads_namespace_labels(policy.match, policy.exclude) or any(
        reads_namespace_labels(rule.match, rule.exclude) or rule.check.reads_namespace_labels
        for rule in policy.rules
    )


@dataclass(slots=True)
class PolicySet:
    """An immutable set of policies; `candidates` is the index used on every request."""

    policies: tuple[CompiledPolicy, ...]
    exceptions: tuple[CompiledException, ...] = ()
    _by_kind: dict[str, tuple[CompiledPolicy, ...]] = field(default_factory=dict)
    _any_kind: tuple[CompiledPolicy, ...] = ()
    _cache: dict[tuple[str, str], tuple[CompiledPolicy, ...]] = field(default_factory=dict)
    _label_readers: frozenset[int] = frozenset()  # ids of policies that read namespace labels
    _exceptions_read_labels: bool = False
    _labels_cache: dict[tuple[str, str], bool] = field(default_factory=dict)
    _plans: dict[ResourceKey, Selection | None] = field(default_factory=dict)
    # Whether a check the webhook runs may read the object's metadata.managedFields; when none
    # does, the webhook skips that value while decoding (exceptions and mutations never read it)
    reads_managed_fields: bool = field(init=False, default=True)
    # What the checks the webhook runs read of a pod spec, when every one says and none reads
    # managedFields (exceptions and match blocks read only metadata): /validate then decodes
    # only that of the object. None: the object is decoded whole.
    pod_reads: PodReads | None = field(init=False, default=None)
    # Whether a check reads data the server loads ahead of requests (`CompiledCheck.preloads`):
    # only then does the webhook hand that data to the engine.
    preloads: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        online = [
            rule.check
            for policy in self.policies
            for rule in policy.rules
            if not rule.check.offline_only
        ]
        self.reads_managed_fields = any(check.reads_managed_fields for check in online)
        if not self.reads_managed_fields:
            self.pod_reads = union([check.pod_reads for check in online])
        self.preloads = any(
            rule.check.preloads for policy in self.policies for rule in policy.rules
        )
        self._label_readers = frozenset(
            id(policy) for policy in self.policies if policy_reads_namespace_labels(policy)
        )
        self._exceptions_read_labels = any(
            reads_namespace_labels(exception.match) for exception in self.exceptions
        )
        by_kind: dict[str, list[CompiledPolicy]] = {}
        any_kind: list[CompiledPolicy] = []
        for policy in self.policies:
            keys = policy.kind_keys
            if keys is None:
                any_kind.append(policy)
            else:
                for key in keys:
                    by_kind.setdefault(key, []).append(policy)
        self._by_kind = {key: tuple(value) for key, value in by_kind.items()}
        self._any_kind = tuple(any_kind)

    def candidates(self, kind: str, operation: str) -> tuple[CompiledPolicy, ...]:
        """Policies that may match `kind` and `operation`; the rest cost nothing."""
        key = (kind, operation)
        found = self._cache.get(key)
        if found is not None:
            return found
        order = {id(policy): index for index, policy in enumerate(self.policies)}
        merged = sorted(
            {id(p): p for p in (*self._by_kind.get(kind, ()), *self._any_kind)}.values(),
            key=lambda policy: order[id(policy)],
        )
        found = tuple(
            policy
            for policy in merged
            if policy.match.operations is None or operation in policy.match.operations
        )
        if len(self._cache) < MAX_INDEX_ENTRIES:
            self._cache[key] = found
        return found

    def needs_namespace_labels(self, kind: str, operation: str) -> bool:
        """Whether a request of `kind` and `operation` may need its namespace's labels: a
        candidate policy (or an exception) has a namespace selector or reads `namespaceObject`.
        """
        key = (kind, operation)
        found = self._labels_cache.get(key)
        if found is None:
            candidates = self.candidates(kind, operation)
            found = bool(candidates) and (
                self._exceptions_read_labels
                or any(id(policy) in self._label_readers for policy in candidates)
            )
            if len(self._labels_cache) < MAX_INDEX_ENTRIES:
                self._labels_cache[key] = found
        return found

    def selection(
        self, group: str, kind: str, operation: str, subresource: str
    ) -> Selection | None:
        """When every candidate policy decides from the request's group, kind, operation,
        subresource and namespace alone (no names, object or namespace selectors, subjects):
        the policies that select such requests, by namespace. None when a candidate policy
        reads more of the request."""
        key = (group, kind, operation, subresource)
        found = self._plans.get(key, _NO_PLAN)
        if found is not _NO_PLAN:
            return found  # type: ignore[return-value]
        plan: Selection | None = None
        candidates = self.candidates(kind, operation)
        if all(
            policy.match.static and (policy.exclude is None or policy.exclude.static)
            for policy in candidates
        ):
            entries = []
            for policy in candidates:
                if not policy.match.selects_resource(group, kind, operation, subresource):
                    continue
                exclude = policy.exclude
                if exclude is not None and (
                    exclude.empty
                    or not exclude.selects_resource(group, kind, operation, subresource)
                ):
                    exclude = None
                if exclude is not None and exclude.namespaces is None:
                    continue  # excluded whatever the namespace
                match = policy.match if policy.match.namespaces is not None else None
                entries.append((policy, match, exclude))
            plan = Selection(tuple(entries))
        if len(self._plans) < MAX_INDEX_ENTRIES:
            self._plans[key] = plan
        return plan

    def names(self) -> Sequence[str]:
        return [policy.name for policy in self.policies]

    def expired_exceptions(self, today: date) -> list[CompiledException]:
        """The exceptions past their expiry on `today` (they no longer waive anything)."""
        return [exception for exception in self.exceptions if not exception.active(today)]
