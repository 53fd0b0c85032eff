"""Manifests for `check`: files, directories and stdin; YAML or JSON; `kind: List` unpacked.

Each object keeps its source (file, document index, line) so a finding can point into the
file. A bad file becomes a ManifestError for that file; the other files are still read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.errors import ManifestError
from webhook.yamldoc import YAMLDocument, YAMLDocumentError, iter_documents, line_of, pointer_tokens

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object and where it came from."""

    object: dict[str, Any]
    file: str
    document: int  # 0-based index of the document in its file
    _document: YAMLDocument | None
    _prefix: tuple[str | int, ...]  # path to the object inside its document (`items/3`)

    @property
    def line(self) -> int:
        return self.line_of("")

    def line_of(self, pointer: str) -> int:
        """The 1-based line of the field at JSON Pointer `pointer`, or of the nearest parent."""
        if self._document is None or self._document.node is None:
            return 1
        return line_of(self._document.node, [*self._prefix, *pointer_tokens(pointer)])


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


def read_source(file: str) -> ManifestSource:
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
    return parse_source(file, text)


def parse_source(file: str, text: str) -> ManifestSource:
    manifests: list[Manifest] = []
    errors: list[ManifestError] = []
    try:
        documents = list(iter_documents(text))
    except YAMLDocumentError as error:
        return ManifestSource(
            file, (), (ManifestError(file, f"invalid YAML: {error.reason}", error.line),)
        )
    for document in documents:
        value = document.value
        if not isinstance(value, dict):
            errors.append(
                ManifestError(
                    file, "document is not a Kubernetes object (a mapping)", document.line
                )
            )
            continue
        if isinstance(value.get("items"), list) and str(value.get("kind", "")).endswith("List"):
            for index, item in enumerate(value["items"]):
                if _is_object(item):
                    manifests.append(
                        Manifest(item, file, document.index, document, ("items", index))
                    )
                else:
                    errors.append(
                        ManifestError(
                            file,
                            f"items[{index}] has no apiVersion and kind",
                            document.line_of(["items", index]),
                        )
                    )
            continue
        if not _is_object(value):
            errors.append(ManifestError(file, "document has no apiVersion and kind", document.line))
            continue
        manifests.append(Manifest(value, file, document.index, document, ()))
    return ManifestSource(file, tuple(manifests), tuple(errors))


def _is_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("apiVersion"), str)
        and isinstance(value.get("kind"), str)
        and bool(value["kind"])
    )
