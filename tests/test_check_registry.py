"""The registry of built-in checks: every check by name, deferred families included."""

from __future__ import annotations

import importlib

import pytest

from webhook.checks import CHECKS, DEFERRED, CheckRegistry


def test_deferred_names_are_exactly_their_modules_definitions() -> None:
    for module in set(DEFERRED.values()):
        defined = {definition.name for definition in importlib.import_module(module).DEFINITIONS}
        assert defined == {name for name, owner in DEFERRED.items() if owner == module}


def test_every_check_is_listed_once_and_found_by_its_name() -> None:
    names = list(CHECKS)
    assert len(names) == len(set(names)) == len(CHECKS)
    assert set(DEFERRED) <= set(names)
    assert {"imageSignatures", "gitOwnership", "desiredState", "resources"} <= set(names)
    for name in names:
        assert CHECKS[name].name == name


def test_an_unknown_check_is_not_found() -> None:
    assert CHECKS.get("noSuchCheck") is None
    with pytest.raises(KeyError):
        CHECKS["noSuchCheck"]


def test_a_deferred_family_is_imported_on_first_lookup() -> None:
    eager = CHECKS["resources"]
    registry = CheckRegistry([eager], {"imageSignatures": "webhook.checks.signatures"})
    assert list(registry) == ["resources", "imageSignatures"]
    assert registry["resources"] is eager
    assert registry["imageSignatures"].params.__name__ == "ImageSignaturesParams"
