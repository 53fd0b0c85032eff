"""Keyless identities' issuerRegExp/subjectRegExp are RE2, as in cosign: checked at load,
matched in linear time whatever the pattern, with Go's search semantics."""

from __future__ import annotations

import pytest

from webhook.checks.signatures import KeylessParams
from webhook.signatures.api import KeylessSigner
from webhook.signatures.keyless import identity_matches

ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"


def signer(subject_regexp: str) -> KeylessSigner:
    return KeylessSigner(name="ci", issuer=ISSUER, subject_regexp=subject_regexp)


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        (r"^https://github\.com/example/.+@refs/heads/main$", WORKFLOW, True),
        (r"^https://github\.com/example/.+@refs/heads/main$", WORKFLOW + "x", False),
        (r"example/app", WORKFLOW, True),  # a search, as Go's regexp.MatchString
        (r"^(a+)+$", "a" * 64 + "!", False),  # years of backtracking for Python's re
        (r"^(a|aa)+$", "a" * 10_000, True),
    ],
)
def test_identity_regexp(pattern: str, subject: str, matches: bool) -> None:
    assert identity_matches(signer(pattern), ISSUER, subject) is matches


@pytest.mark.parametrize("pattern", [r"(a)\1", r"^(?=main)", r"(?<!x)y", r"[unclosed", r"a{2,1}"])
def test_a_pattern_that_is_not_re2_does_not_load(pattern: str) -> None:
    with pytest.raises(ValueError, match="no RE2 regular expression"):
        KeylessParams(issuer=ISSUER, subjectRegExp=pattern)
    with pytest.raises(ValueError, match="no RE2 regular expression"):
        KeylessParams(issuerRegExp=pattern, subject="someone@example.com")
