"""Container image references (registry, repository, tag, digest) as runtimes read them; pure."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_REPOSITORY_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


class ImageReferenceError(ValueError):
    """The text is not a valid image reference."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference. `tag` is None when absent; `digest` is None when not pinned."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None
    original: str

    @property
    def name(self) -> str:
        """registry/repository, the part a signature or a registry glob is about."""
        return f"{self.registry}/{self.repository}"

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def with_digest(self, digest: str) -> str:
        """The reference pinned to `digest`, keeping the tag for readers: `name:tag@digest`."""
        prefix = self.original.split("@", 1)[0]
        return f"{prefix}@{digest}"


@functools.lru_cache(maxsize=4096)  # a cluster runs few distinct images; pure and immutable
def parse_image(reference: str) -> ImageReference:
    """Parse `reference` the way the container runtime does; raises ImageReferenceError."""
    text = reference.strip()
    if not text or text != reference or any(ch.isspace() for ch in text):
        raise ImageReferenceError(f"{reference!r} is not a valid image reference")
    remainder, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ImageReferenceError(f"{reference!r} has an invalid digest {digest!r}")
    first, slash, rest = remainder.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, remainder
    tag: str | None = None
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1 :]
        if not _TAG.match(tag):
            raise ImageReferenceError(f"{reference!r} has an invalid tag {tag!r}")
    if not path or not all(_REPOSITORY_PART.match(part) for part in path.split("/")):
        raise ImageReferenceError(f"{reference!r} has an invalid repository {path!r}")
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return ImageReference(
        registry=registry, repository=path, tag=tag, digest=digest or None, original=reference
    )
