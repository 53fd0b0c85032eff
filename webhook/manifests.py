"""Manifests for `check`: files, directories and stdin; YAML or JSON; `kind: List` unpacked.

Each object keeps its source (file, document index, line) so a finding can point into the
file. A bad file or document becomes a ManifestError naming the file, the line and the reason;
the other files and documents are still read. Objects of kinds no policy looks at (`wanted`)
are read down to their metadata only and keep only their first line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.errors import ManifestError
from webhook.manifestdocs import Locator, read_documents
from webhook.yamldoc import pointer_tokens

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"

Wanted = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object and where it came from."""

    object: dict[str, Any]
    file: str
    document: int  # 0-based index of the document in its file
    locator: Locator

    @property
    def line(self) -> int:
        return self.locator.line_of(())

    def line_of(self, pointer: str) -> int:
        """The 1-based line of the field at JSON Pointer `pointer`, or of the nearest parent."""
        return self.locator.line_of(pointer_tokens(pointer)) if pointer else self.line


@dataclass(frozen=True, slots=True)
class ManifestSource:
    """Everything read from one file: its objects, or the error that made it unreadable."""

    file: str
    manifests: tuple[Manifest, ...]
    errors: tuple[ManifestError, ...]


def manifest_files(paths: Iterable[str]) -> Iterator[str]:
    for text in paths:
        if text == STDIN:
            yield STDIN
            continue
        path = Path(text)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if (
                    candidate.is_file()
                    and candidate.suffix in MANIFEST_SUFFIXES
                    and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
                ):
                    yield str(candidate)
        else:
            yield text


def read_source(file: str, *, wanted: Wanted | None = None) -> ManifestSource:
    """Read one file (or `-` for stdin) into manifests; never raises for bad content."""
    try:
        if file == STDIN:
            data = sys.stdin.buffer.read()
        else:
            data = Path(file).read_bytes()
    except OSError as error:
        return ManifestSource(file, (), (ManifestError(file, f"cannot read: {error.strerror}"),))
    if b"\0" in data[:8192]:
        return ManifestSource(file, (), (ManifestError(file, "binary file, not YAML or JSON"),))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return ManifestSource(file, (), (ManifestError(file, f"not UTF-8 text: {error.reason}"),))
    return parse_source(file, text, wanted=wanted)


def parse_source(file: str, text: str, *, wanted: Wanted | None = None) -> ManifestSource:
    """The objects of one file's text; documents that are no Kubernetes object are errors."""
    manifests: list[Manifest] = []
    errors: list[ManifestError] = []
    documents = read_documents(text, wanted=wanted)
    for found in documents.objects:
        problem = _problem(found.value)
        if problem is not None:
            errors.append(
                ManifestError(file, f"{found.where} {problem}", found.locator.line_of(()))
            )
        else:
            manifests.append(Manifest(found.value, file, found.document, found.locator))
    errors.extend(ManifestError(file, reason, line) for reason, line in documents.errors)
    errors.sort(key=lambda error: error.line or 0)
    return ManifestSource(file, tuple(manifests), tuple(errors))


def _problem(value: Any) -> str | None:
    """Why `value` is no Kubernetes object, or None when it is one."""
    if not isinstance(value, dict):
        kind = "list" if isinstance(value, list) else type(value).__name__
        return f"is not a Kubernetes object: a {kind}, not a mapping"
    missing = [key for key in ("apiVersion", "kind") if not isinstance(value.get(key), str)]
    if missing or not value["kind"]:
        return f"is not a Kubernetes object: it has no {' and no '.join(missing or ['kind'])}"
    return None
