"""Shared pieces of the drift tests: the recorded reviews and a policy for the GitOps rules."""

from __future__ import annotations

import textwrap
from functools import cache

from tests.conftest import DATA
from webhook.review import AdmissionRequest, decode_review

DRIFT = DATA / "drift"
REVIEWS = DRIFT / "reviews"
RENDERED = DRIFT / "rendered"

CONTROLLERS = """
        controllers:
          serviceAccounts:
            - argocd:argocd-application-controller
            - flux-system:kustomize-controller
            - flux-system:helm-controller
        breakGlass: {groups: ["oidc:sre-oncall"]}
"""


@cache
def review(name: str) -> AdmissionRequest:
    """The request of tests/data/drift/reviews/NAME.json, as the webhook decodes it."""
    return decode_review((REVIEWS / f"{name}.json").read_bytes()).request


def policy(check: str, extra: str = "", *, mode: str = "enforce") -> str:
    """A policy with one `check` rule over every kind, CREATE/UPDATE/DELETE and scale."""
    body = textwrap.indent(textwrap.dedent(extra).strip(), " " * 8) if extra.strip() else ""
    return (
        textwrap.dedent(
            f"""
            apiVersion: policy-webhook.dev/v1alpha1
            kind: Policy
            metadata: {{name: gitops}}
            spec:
              mode: {mode}
              match:
                kinds: ["*"]
                operations: [CREATE, UPDATE, DELETE]
                subresources: [scale]
              rules:
                - name: no-drift
                  check: {check}
                  with:
            """
        )
        + CONTROLLERS.strip("\n")
        + ("\n" + body if body else "")
        + "\n"
    )
