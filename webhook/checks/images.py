"""Image reference checks: tags, allowed registries and digest pinning; pure."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.findings import Violation
from webhook.images import ImageReferenceError, parse_image


class ImagesParams(CheckParams):
    allowLatest: bool = False
    registries: list[str] = []  # globs on registry/repository; empty allows every registry
    requireDigest: bool = False


def compile_images(source: CompileInput[ImagesParams]) -> CompiledCheck:
    params = source.params
    allowed = tuple(params.registries)

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        assert ctx.pod is not None
        violations: list[Violation] = []
        for container in ctx.pod.containers:
            text = container.spec.get("image")
            path = container.field_path("image")
            if not isinstance(text, str) or not text:
                violations.append(
                    Violation(f"{container.label} has no image", path, container.name)
                )
                continue
            try:
                image = parse_image(text)
            except ImageReferenceError as error:
                violations.append(Violation(f"{container.label}: {error}", path, container.name))
                continue
            if not params.allowLatest and image.digest is None:
                if image.tag is None:
                    violations.append(
                        Violation(
                            f'{container.label} image "{text}" has no tag (it means latest): '
                            "pin a version tag or a digest",
                            path,
                            container.name,
                        )
                    )
                elif image.tag == "latest":
                    violations.append(
                        Violation(
                            f'{container.label} image "{text}" uses the latest tag: '
                            "pin a version tag or a digest",
                            path,
                            container.name,
                        )
                    )
            if params.requireDigest and image.digest is None:
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" is not pinned by digest: use '
                        f"{image.name}@sha256:...",
                        path,
                        container.name,
                    )
                )
            if allowed and not any(
                fnmatchcase(image.name, pattern) or fnmatchcase(text, pattern)
                for pattern in allowed
            ):
                violations.append(
                    Violation(
                        f'{container.label} image "{text}" comes from {image.registry}, which is '
                        f"not allowed: use an image from {', '.join(allowed)}",
                        path,
                        container.name,
                    )
                )
        return violations

    return CompiledCheck(run=run)


DEFINITIONS: list[CheckDefinition[ImagesParams]] = [
    CheckDefinition(
        name="images",
        params=ImagesParams,
        compile=compile_images,
        summary="Images carry a tag other than latest, come from allowed registries, "
        "and are pinned by digest when required.",
    ),
]
