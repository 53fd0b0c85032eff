"""Who may write to objects managed from Git: the GitOps controllers, Kubernetes' own controllers
that write to workloads by design, and the break-glass subjects. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import translate

from webhook.review import UserInfo

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

# kube-controller-manager's controllers (with --use-service-account-credentials, each one runs
# as its own service account in kube-system) that write to objects a Git repository declares,
# outside their status. Controllers that only write status (a subresource, writable anyway)
# or only write objects they generate (Pods of ReplicaSets, Jobs of CronJobs, EndpointSlices:
# children, which carry no markers of their own) are not listed.
BUILTIN_SERVICE_ACCOUNTS: dict[str, str] = {
    "deployment-controller": "sets the revision annotations of Deployments",
    "replicaset-controller": "adopts and releases Pods that match a ReplicaSet's selector",
    "horizontal-pod-autoscaler": "sets replicas through the scale subresource",
    "generic-garbage-collector": "removes finalizers and owner references, deletes dependents",
    "namespace-controller": "deletes every object of a namespace that is being deleted",
    "persistent-volume-binder": "binds PersistentVolumeClaims and PersistentVolumes",
    "pvc-protection-controller": "adds and removes the PersistentVolumeClaim finalizer",
    "pv-protection-controller": "adds and removes the PersistentVolume finalizer",
    "ttl-after-finished-controller": "deletes finished Jobs that set ttlSecondsAfterFinished",
    "clusterrole-aggregation-controller": "fills the rules of aggregated ClusterRoles",
    "pod-garbage-collector": "deletes Pods of nodes that are gone",
}
BUILTIN_USERS: dict[str, str] = {
    "system:kube-controller-manager": "all of the above when they share one credential",
    "system:kube-scheduler": "deletes Pods it preempts",
}
BUILTIN_GROUPS: dict[str, str] = {
    "system:nodes": "kubelets complete the deletion of their Pods",
}


def _glob(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{translate(pattern)})" for pattern in patterns))


@dataclass(frozen=True, slots=True)
class Subjects:
    """Users, groups and service accounts (`namespace:name`), each a list of globs."""

    users: re.Pattern[str] | None
    groups: re.Pattern[str] | None
    service_accounts: re.Pattern[str] | None

    @classmethod
    def build(
        cls,
        *,
        users: Sequence[str] = (),
        groups: Sequence[str] = (),
        service_accounts: Sequence[str] = (),
    ) -> Subjects:
        return cls(_glob(users), _glob(groups), _glob(service_accounts))

    @property
    def empty(self) -> bool:
        return self.users is None and self.groups is None and self.service_accounts is None

    def matching_group(self, user: UserInfo) -> str | None:
        """The first of the user's groups this set names, if any."""
        if self.groups is None:
            return None
        return next((group for group in user.groups if self.groups.fullmatch(group)), None)

    def matches(self, user: UserInfo) -> bool:
        if self.users is not None and self.users.fullmatch(user.username):
            return True
        if self.matching_group(user) is not None:
            return True
        if self.service_accounts is not None and user.username.startswith(SERVICE_ACCOUNT_PREFIX):
            account = user.username[len(SERVICE_ACCOUNT_PREFIX) :]
            if self.service_accounts.fullmatch(account):
                return True
        return False


BUILTIN_CONTROLLERS = Subjects(
    users=re.compile("|".join(re.escape(user) for user in BUILTIN_USERS)),
    groups=re.compile("|".join(re.escape(group) for group in BUILTIN_GROUPS)),
    service_accounts=re.compile(
        "|".join(re.escape(f"kube-system:{name}") for name in BUILTIN_SERVICE_ACCOUNTS)
    ),
)


@dataclass(frozen=True, slots=True)
class Writers:
    """The identities of a rule: controllers that apply Git, and who may break the glass."""

    controllers: Subjects
    builtin: bool
    break_glass: Subjects

    def is_controller(self, user: UserInfo) -> bool:
        return self.controllers.matches(user) or (
            self.builtin and BUILTIN_CONTROLLERS.matches(user)
        )

    def break_glass_reason(self, user: UserInfo) -> str | None:
        """`user alice (group sre-oncall)` when the user may break the glass, else None."""
        if self.break_glass.empty or not self.break_glass.matches(user):
            return None
        group = self.break_glass.matching_group(user)
        return f"user {user.username}" + (f" (group {group})" if group else "")
