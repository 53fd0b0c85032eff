"""Image reference checks: tags, allowed registries and digest pinning; pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import field_validator

from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.findings import Violation
from webhook.images import DEFAULT_REGISTRY, ImageReference, ImageReferenceError, parse_image


class ImagesParams(CheckParams):
    """`registries`: globs on the registry host, or on host/repository; empty allows any."""

    allowLatest: bool = False
    registries: list[str] = []
    requireDigest: bool = False

    @field_validator("registries")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            RegistryPattern.parse(pattern)
        return value


@dataclass(frozen=True, slots=True)
class RegistryPattern:
    """`ghcr.io`, `*.example.com`, `registry.example.com/team/*`, `docker.io/library/*`.

    The host glob never reaches past the first `/`, so `*.example.com` does not admit
    `evil.io/x.example.com/app`; in the repository part `*` spans path segments.
    """

    host: str
    repository: str | None  # None: every repository of the matching hosts

    @classmethod
    def parse(cls, text: str) -> RegistryPattern:
        """Raises ValueError for a pattern that names a tag or digest, or is empty."""
        if not text or text != text.strip() or any(ch.isspace() for ch in text):
            raise ValueError(f"registry pattern {text!r} is empty or contains spaces")
        if "@" in text:
            raise ValueError(f"registry pattern {text!r} names a digest: drop the @...")
        host, slash, repository = text.partition("/")
        if not host:
            raise ValueError(f"registry pattern {text!r} has no registry host")
        if slash and (":" in repository):
            raise ValueError(f"registry pattern {text!r} names a tag: drop the :...")
        return cls(host=host, repository=repository if slash and repository else None)

    def matches(self, image: ImageReference) -> bool:
        if not fnmatchcase(image.registry, self.host):
            return False
        if self.repository is None:
            return True
        candidates = [image.repository]
        if image.registry == DEFAULT_REGISTRY and image.repository.startswith("library/"):
            candidates.append(image.repository.removeprefix("library/"))  # docker.io/nginx
        return any(fnmatchcase(name, self.repository) for name in candidates)


def compile_images(source: CompileInput[ImagesParams]) -> CompiledCheck:
    params = source.params
    allowed = tuple(params.registries)
    patterns = tuple(RegistryPattern.parse(text) for text in allowed)

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        assert ctx.pod is not None
        violations: list[Violation] = []
        for container in ctx.pod.containers:
            text = container.spec.get("image")
            if not isinstance(text, str) or not text:
                violations.append(
                    Violation(
                        f"{container.label} has no image",
                        container.field_path("image"),
                        container.name,
                    )
                )
                continue
            try:
                image = parse_image(text)
            except ImageReferenceError as error:
                violations.append(
                    Violation(
                        f"{container.label}: {error}", container.field_path("image"), container.name
                    )
                )
                continue
            if not params.allowLatest and image.digest is None:
                if image.tag is None:
                    violations.append(
                        Violation(
                            f'{container.label} image "{text}" has no tag (it means latest): '
                            "pin a version tag or a digest",
                            container.field_path("image"),
                            container.name,
                        )
                    )
                elif image.tag == "latest":
                    violations.append(
                        Violation(
                            f'{container.label} image "{text}" uses the latest tag: '
                            "pin a version tag or a digest",
                            container.field_path("image"),
                            container.name,
                        )
                    )
            if params.requireDigest and image.digest is None:
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" is not pinned by digest: use '
                        f"{image.name}@sha256:...",
                        container.field_path("image"),
                        container.name,
                    )
                )
            if patterns and not any(pattern.matches(image) for pattern in patterns):
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" ({image.name}) is not from an '
                        f"allowed registry: use an image from {', '.join(allowed)}",
                        container.field_path("image"),
                        container.name,
                    )
                )
        return violations

    return CompiledCheck(run=run, reads_managed_fields=False)  # the containers' images only


DEFINITIONS: list[CheckDefinition[ImagesParams]] = [
    CheckDefinition(
        name="images",
        params=ImagesParams,
        compile=compile_images,
        summary="Images carry a tag other than latest, come from allowed registries, "
        "and are pinned by digest when required.",
    ),
]
