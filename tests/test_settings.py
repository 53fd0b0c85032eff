"""Settings: flags, then environment variables, then defaults; bad values name their source."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from webhook.errors import SettingsError
from webhook.settings import FailureMode, Settings, add_arguments, from_arguments


def parse(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_arguments(parser.parse_args(argv), environ or {})


def test_defaults() -> None:
    settings = parse([])
    assert settings.policies == (Path("policies"),)
    assert settings.port == 8443
    assert settings.failure_mode is FailureMode.DENY
    assert settings.excluded == frozenset({"kube-system", "policy-webhook"})
    assert settings.keep_alive_seconds > 90
    assert settings.own_user == "system:serviceaccount:policy-webhook:policy-webhook"


def test_flags_win_over_the_environment() -> None:
    environ = {
        "POLICY_WEBHOOK_PORT": "9443",
        "POLICY_WEBHOOK_FAILURE_MODE": "allow",
        "POLICY_WEBHOOK_POLICIES": "a,b",
        "POLICY_WEBHOOK_EXCLUDE_NAMESPACES": "legacy, batch",
        "POLICY_WEBHOOK_NAMESPACE": "security",
    }
    from_env = parse([], environ)
    assert from_env.port == 9443
    assert from_env.failure_mode is FailureMode.ALLOW
    assert from_env.policies == (Path("a"), Path("b"))
    assert from_env.excluded == frozenset({"legacy", "batch", "security"})
    flags = parse(["--port", "10443", "--policies", "x", "--policies", "y"], environ)
    assert flags.port == 10443
    assert flags.policies == (Path("x"), Path("y"))
    assert flags.failure_mode is FailureMode.ALLOW


@pytest.mark.parametrize(
    ("argv", "environ", "source"),
    [
        (["--port", "70000"], {}, "--port"),
        ([], {"POLICY_WEBHOOK_PORT": "https"}, "POLICY_WEBHOOK_PORT"),
        (["--failure-mode", "ignore"], {}, "--failure-mode"),
        (["--max-body-bytes", "0"], {}, "--max-body-bytes"),
        (["--reload-interval", "-1"], {}, "--reload-interval"),
        ([], {"POLICY_WEBHOOK_LOG_LEVEL": "loud"}, "POLICY_WEBHOOK_LOG_LEVEL"),
    ],
)
def test_bad_values_name_their_source(
    argv: list[str], environ: dict[str, str], source: str
) -> None:
    with pytest.raises(SettingsError, match=source):
        parse(argv, environ)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
