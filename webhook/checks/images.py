"""Image reference checks: tags, allowed registries and digest pinning; pure."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import translate

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
from webhook.projection import pod_reads

MAX_VERDICTS = 4096  # images remembered per rule


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
        return self.matcher()(image)

    def matcher(self) -> Callable[[ImageReference], bool]:
        """`matches` with its globs compiled once (the regular expressions of fnmatchcase)."""
        host = re.compile(translate(self.host)).match
        if self.repository is None:
            return lambda image: host(image.registry) is not None
        repository = re.compile(translate(self.repository)).match

        def matches(image: ImageReference) -> bool:
            if host(image.registry) is None:
                return False
            if repository(image.repository) is not None:
                return True
            # docker.io/nginx is docker.io/library/nginx
            return (
                image.registry == DEFAULT_REGISTRY
                and image.repository.startswith("library/")
                and repository(image.repository.removeprefix("library/")) is not None
            )

        return matches


def compile_images(source: CompileInput[ImagesParams]) -> CompiledCheck:
    params = source.params
    allowed = tuple(params.registries)
    matchers = tuple(RegistryPattern.parse(text).matcher() for text in allowed)

    # Whether an image comes from an allowed registry: a cluster runs few distinct images,
    # each in many Pods.
    @functools.lru_cache(maxsize=MAX_VERDICTS)
    def allowed_image(image: ImageReference) -> bool:
        return any(match(image) for match in matchers)

    # Read once: an attribute of a pydantic model is read through its __getattr__ hook.
    allow_latest, require_digest = params.allowLatest, params.requireDigest

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
            if not allow_latest and image.digest is None:
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
            if require_digest and image.digest is None:
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" is not pinned by digest: use '
                        f"{image.name}@sha256:...",
                        container.field_path("image"),
                        container.name,
                    )
                )
            if matchers and not allowed_image(image):
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" ({image.name}) is not from an '
                        f"allowed registry: use an image from {', '.join(allowed)}",
                        container.field_path("image"),
                        container.name,
                    )
                )
        return violations

    return CompiledCheck(
        run=run, reads_managed_fields=False, pod_reads=pod_reads(container=("image",))
    )


DEFINITIONS: list[CheckDefinition[ImagesParams]] = [
    CheckDefinition(
        name="images",
        params=ImagesParams,
        compile=compile_images,
        summary="Images carry a tag other than latest, come from allowed registries, "
        "and are pinned by digest when required.",
    ),
]
