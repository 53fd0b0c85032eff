from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import pod_spec, request, wrap
from webhook.engine import evaluate
from webhook.errors import PolicySetError
from webhook.policy.compiled import PolicySet

DIGEST = "sha256:" + "0123456789abcdef" * 4
POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: images}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: r
      check: images
      with: WITH
"""
REGISTRIES = (
    "{allowLatest: true, registries: [registry.example.com, '*.gcr.io', "
    "'ghcr.io/example-org/*', docker.io/nginx, 'localhost:5000']}"
)


def violations(policies: PolicySet, image: str) -> list[str]:
    spec = pod_spec(image=image)
    return [f.message for f in evaluate(request(wrap("CronJob", spec)), policies) if f.failed]


@pytest.mark.parametrize(
    ("params", "image", "message"),
    [
        ("{}", "nginx", "has no tag (it means latest)"),
        ("{}", "ghcr.io/example-org/api:latest", "uses the latest tag"),
        ("{}", "ghcr.io/example-org/api:1.2.3", None),
        ("{}", f"ghcr.io/example-org/api:latest@{DIGEST}", None),  # the digest pins it
        ("{allowLatest: true}", "nginx", None),
        ("{requireDigest: true}", "ghcr.io/example-org/api:1.2.3", "not pinned by digest"),
        ("{requireDigest: true}", f"ghcr.io/example-org/api@{DIGEST}", None),
        (REGISTRIES, "registry.example.com/shop/web:1", None),
        (REGISTRIES, "eu.gcr.io/project/app:1", None),
        (REGISTRIES, "ghcr.io/example-org/team/app:1", None),
        (REGISTRIES, "ghcr.io/other-org/app:1", "is not from an allowed registry"),
        (REGISTRIES, "nginx:1.27", None),  # docker.io/nginx names docker.io/library/nginx
        (REGISTRIES, "redis:7", "(docker.io/library/redis) is not from an allowed registry"),
        (REGISTRIES, "localhost:5000/app:1", None),
        # A host glob stops at the first "/": this is evil.io, not a gcr.io registry.
        (REGISTRIES, "evil.io/x.gcr.io/app:1", "is not from an allowed registry"),
        (REGISTRIES, "registry.example.com.evil.io/shop/web:1", "not from an allowed registry"),
    ],
)
def test_image_rules(
    policy_set: Callable[[str], PolicySet], params: str, image: str, message: str | None
) -> None:
    found = violations(policy_set(POLICY.replace("WITH", params)), image)
    if message is None:
        assert found == []
    else:
        assert len(found) == 1 and message in found[0], found


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("ghcr.io/org/app:1.0", "names a tag"),
        (f"ghcr.io/org/app@{DIGEST}", "names a digest"),
        ("/org/app", "has no registry host"),
        ("", "is empty"),
    ],
)
def test_bad_registry_patterns_fail_to_load(
    policy_set: Callable[[str], PolicySet], pattern: str, reason: str
) -> None:
    with pytest.raises(PolicySetError) as caught:
        policy_set(POLICY.replace("WITH", f"{{registries: ['{pattern}']}}"))
    assert reason in str(caught.value)
