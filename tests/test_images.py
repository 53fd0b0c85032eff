from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.images import ImageReferenceError, parse_image

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None),
        (f"quay.io/x/y@{DIGEST}", "quay.io", "x/y", None, DIGEST),
        (f"quay.io/x/y:1@{DIGEST}", "quay.io", "x/y", "1", DIGEST),
        ("localhost/app:dev", "localhost", "app", "dev", None),
    ],
)
def test_parse_image(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    image = parse_image(text)
    assert (image.registry, image.repository, image.tag, image.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize("text", ["", " nginx", "Nginx", "app@sha256:zz", "a:b:c", "app:"])
def test_invalid_references_are_rejected(text: str) -> None:
    with pytest.raises(ImageReferenceError):
        parse_image(text)


def test_with_digest_keeps_the_tag() -> None:
    assert parse_image("reg.io/app:1.4").with_digest(DIGEST) == f"reg.io/app:1.4@{DIGEST}"


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_with_one_error(text: str) -> None:
    try:
        image = parse_image(text)
    except ImageReferenceError:
        return
    assert image.repository
