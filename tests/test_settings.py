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


IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


@pytest.mark.parametrize(
    ("argv", "environ", "api", "detected"),
    [
        ([], {}, None, False),
        ([], IN_CLUSTER, "https://10.96.0.1:443", True),
        (
            [],
            {"KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "443"},
            "https://[fd00:10:96::1]:443",
            True,
        ),
        ([], {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, None, False),
        (["--kube-api", "https://127.0.0.1:6443/"], IN_CLUSTER, "https://127.0.0.1:6443", False),
        (["--kube-api", "off"], IN_CLUSTER, None, False),
        ([], {**IN_CLUSTER, "POLICY_WEBHOOK_KUBE_API": "none"}, None, False),
    ],
)
def test_the_kubernetes_api_is_found_in_a_pod_unless_set(
    argv: list[str], environ: dict[str, str], api: str | None, detected: bool
) -> None:
    settings = parse(argv, environ)
    assert (settings.kube_api, settings.kube_api_detected) == (api, detected)
    assert settings.kube_token == Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert settings.kube_ca == Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


def test_the_kubernetes_api_is_reached_over_https_only() -> None:
    with pytest.raises(SettingsError, match=r"--kube-api: invalid value 'http://10\.0\.0\.1'"):
        parse(["--kube-api", "http://10.0.0.1"])


@pytest.mark.parametrize(
    ("argv", "namespace", "signatures"),
    [
        (["--kube-api", "off"], 0.5, 4.0),
        (["--kube-api", "https://k:6443"], 0.5, 3.5),
        (["--kube-api", "https://k:6443", "--timeout-seconds", "0.6"], 0.3, 0.3),
        (["--kube-api", "https://k", "--namespace-timeout-seconds", "1"], 1.0, 3.0),
    ],
)
def test_namespace_lookups_take_their_deadline_out_of_the_budget(
    argv: list[str], namespace: float, signatures: float
) -> None:
    settings = parse(argv)
    assert settings.namespace_deadline == pytest.approx(namespace)
    assert settings.signature_budget == pytest.approx(signatures)
