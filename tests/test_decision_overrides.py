"""Overridden findings (break-glass): admitted in every mode, warned and recorded."""

from __future__ import annotations

import pytest

from webhook.decision import decide
from webhook.findings import Finding, Mode, Result


@pytest.mark.parametrize("mode", list(Mode))
def test_overridden_findings_never_deny(mode: Mode) -> None:
    overridden = Finding("gitops", "no-drift", mode, Result.OVERRIDDEN, "break-glass change by bob")
    decision = decide([overridden])
    assert decision.allowed
    assert decision.overrides == (overridden,)
    assert not decision.warnings and not decision.audits and not decision.denials
    assert decision.warning_texts() == ["[gitops/no-drift] break-glass change by bob"]
    assert decision.audit_annotations == {
        "gitops.no-drift": "[gitops/no-drift] break-glass change by bob"
    }
    assert not overridden.failed


def test_a_failure_beside_an_override_still_denies() -> None:
    decision = decide(
        [
            Finding("gitops", "no-drift", Mode.ENFORCE, Result.OVERRIDDEN, "break-glass"),
            Finding("baseline", "non-root", Mode.ENFORCE, Result.FAIL, "runs as root"),
        ]
    )
    assert not decision.allowed
    assert len(decision.denials) == 1 and len(decision.overrides) == 1


def test_the_shared_admitting_decision_cannot_be_changed() -> None:
    passed = Finding("baseline", "non-root", Mode.ENFORCE, Result.PASS, "")
    first, second = decide([]), decide([passed])
    assert first is second and first.allowed
    with pytest.raises(TypeError):
        first.audit_annotations["leaked"] = "into every later decision"  # type: ignore[index]
    assert decide([]).audit_annotations == {}
