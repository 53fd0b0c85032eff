"""Loading a directory of rendered manifests into a DesiredSnapshot and reloading it atomically.

The only I/O of the desired state. A reload builds the new index completely, then swaps it
in with one reference assignment, so a request sees the old snapshot or the new one, never a
mix. A missing or unlistable directory makes the state unavailable (rules report an error);
bad files are rejected and the last good snapshot is kept, as a bad policy reload is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webhook.desired.snapshot import (
    DesiredObject,
    DesiredSnapshot,
    DesiredState,
    DesiredStateKey,
    DesiredStateUnavailable,
    ObjectKey,
)
from webhook.errors import DesiredStateError, ManifestError
from webhook.manifests import MANIFEST_SUFFIXES, read_source
from webhook.policy.compiled import PolicySet

MAX_REPORTED_ERRORS = 5
Fingerprint = tuple[str, tuple[tuple[str, int, int], ...]]


def _raise(error: OSError) -> None:
    raise error


def manifest_paths(root: Path) -> list[Path]:
    """Every YAML/JSON file under `root` (hidden entries skipped); raises OSError if unlistable."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root, onerror=_raise):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        found.extend(
            Path(directory, name)
            for name in sorted(files)
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES)
        )
    return found


def load_snapshot(directory: Path) -> DesiredSnapshot:
    """Read and index every manifest under `directory`; raises DesiredStateError."""
    try:
        root = directory.resolve(strict=True)
        if not root.is_dir():
            raise DesiredStateError(str(directory), "not a directory", unreadable=True)
        paths = manifest_paths(root)
    except OSError as error:
        reason = error.strerror or str(error)
        raise DesiredStateError(str(directory), f"cannot read: {reason}", unreadable=True) from None
    if not paths:
        raise DesiredStateError(
            str(directory), "no YAML or JSON manifests in the directory", unreadable=True
        )
    objects: dict[ObjectKey, DesiredObject] = {}
    errors: list[ManifestError] = []
    for path in paths:
        relative = str(path.relative_to(root))
        source = read_source(str(path))
        errors.extend(ManifestError(relative, e.reason, e.line) for e in source.errors)
        for manifest in source.manifests:
            key = ObjectKey.of(manifest.object)
            if key is None:  # generateName objects (hooks) cannot be matched by name
                continue
            earlier = objects.get(key)
            if earlier is not None:
                errors.append(
                    ManifestError(
                        relative, f"{key} is also declared in {earlier.where}", manifest.line
                    )
                )
                continue
            objects[key] = DesiredObject(manifest.object, relative, manifest.line)
    if errors:
        shown = "; ".join(str(error) for error in errors[:MAX_REPORTED_ERRORS])
        more = (
            f" (and {len(errors) - MAX_REPORTED_ERRORS} more)"
            if len(errors) > MAX_REPORTED_ERRORS
            else ""
        )
        raise DesiredStateError(str(directory), f"bad manifests: {shown}{more}", unreadable=False)
    return DesiredSnapshot(source=str(root), objects=objects, files=len(paths))


def fingerprint(directory: Path) -> Fingerprint | None:
    """What changes when the directory's content does (target, files, sizes and times)."""
    try:
        root = directory.resolve(strict=True)
        entries = []
        for path in manifest_paths(root):
            stat = path.stat()
            entries.append((str(path.relative_to(root)), stat.st_mtime_ns, stat.st_size))
    except OSError:
        return None
    return str(root), tuple(entries)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    key: DesiredStateKey
    ok: bool
    message: str  # what was loaded, or why not and what is served instead


class DesiredStateStore:
    """The desired state of one directory; `state` is read per request, `reload` swaps it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = DesiredStateKey(str(directory))
        self._state: DesiredState = DesiredStateUnavailable(str(directory), "not loaded yet")
        self._fingerprint: Fingerprint | None = None
        self._lock = threading.Lock()  # one reload at a time; readers never wait

    @property
    def state(self) -> DesiredState:
        return self._state

    def reload(self) -> ReloadResult:
        """Load the directory again and swap the new snapshot in; never raises."""
        with self._lock:
            # Taken first: a change during the load makes the next refresh load again.
            self._fingerprint = fingerprint(self.directory)
            try:
                snapshot = load_snapshot(self.directory)
            except DesiredStateError as error:
                return self._failed(error)
            self._state = snapshot
            return ReloadResult(
                self.key,
                ok=True,
                message=f"loaded {len(snapshot.objects)} objects from {snapshot.files} files "
                f"in {snapshot.source}",
            )

    def refresh(self) -> ReloadResult | None:
        """Reload when the directory changed since the last load; None when unchanged."""
        current = fingerprint(self.directory)
        if current is not None and current == self._fingerprint:
            return None
        return self.reload()

    def _failed(self, error: DesiredStateError) -> ReloadResult:
        previous = self._state
        if not error.unreadable and isinstance(previous, DesiredSnapshot):
            return ReloadResult(
                self.key,
                ok=False,
                message=f"{error}; still serving the previous snapshot of {previous.source}",
            )
        self._state = DesiredStateUnavailable(str(self.directory), error.reason)
        return ReloadResult(self.key, ok=False, message=str(error))


def required_keys(policies: PolicySet) -> list[DesiredStateKey]:
    """The directories the policies' desired-state rules read, in policy order."""
    keys = (
        need
        for policy in policies.policies
        for rule in policy.rules
        for need in rule.check.preloads
        if isinstance(need, DesiredStateKey)
    )
    return list(dict.fromkeys(keys))


class DesiredStates:
    """The stores of every directory a PolicySet needs; what the server reloads and looks up."""

    def __init__(self, stores: Iterable[DesiredStateStore] = ()) -> None:
        self._stores = {store.key: store for store in stores}

    @classmethod
    def for_policies(
        cls, policies: PolicySet, *, previous: DesiredStates | None = None
    ) -> DesiredStates:
        """Stores for `policies`, reusing (not reloading) those of `previous` for the same paths."""
        old = previous._stores if previous is not None else {}
        return cls(
            old.get(key) or DesiredStateStore(Path(key.path)) for key in required_keys(policies)
        )

    @property
    def stores(self) -> Mapping[DesiredStateKey, DesiredStateStore]:
        return self._stores

    def reload(self) -> list[ReloadResult]:
        return [store.reload() for store in self._stores.values()]

    def refresh(self) -> list[ReloadResult]:
        """Reload the stores whose directories changed; the results of those reloads."""
        results = (store.refresh() for store in self._stores.values())
        return [result for result in results if result is not None]

    def lookups(self) -> dict[DesiredStateKey, DesiredState]:
        """The current state of every directory: the `lookups` to pass to `evaluate`."""
        return {key: store.state for key, store in self._stores.items()}
