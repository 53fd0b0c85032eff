"""The exception tree of policy-webhook.

PolicyWebhookError
├── PolicyLoadError      a policy file is unreadable or invalid (file, line, reason)
├── ManifestError        a manifest given to `check` is unreadable or not Kubernetes YAML/JSON
├── SuiteError           a policy test suite (kind PolicyTest) is unreadable or invalid
├── DesiredStateError    the directory of rendered manifests (desired state) cannot be loaded
├── ReviewError          an AdmissionReview body is malformed (the caller's error: HTTP 400)
├── CertificateError     a certificate or key file is unreadable or does not match
├── SettingsError        a flag or environment variable of `serve` has an invalid value
├── KubeConfigError      the service account token or the cluster CA cannot be read
└── KubeApiError         the Kubernetes API answered with an error Status or a malformed body
    └── ExpiredError     410: the resource version asked for is too old (list again)
"""

from __future__ import annotations


class PolicyWebhookError(Exception):
    """Base of every error this package raises on purpose."""


class PolicyLoadError(PolicyWebhookError):
    """A policy file could not be loaded; names the file, the line (1-based) and the reason."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class PolicySetError(PolicyWebhookError):
    """Several policy files failed to load; carries every error, not only the first."""

    def __init__(self, errors: list[PolicyLoadError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


class ManifestError(PolicyWebhookError):
    """A manifest file could not be read or parsed."""

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.reason = reason
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class DesiredStateError(PolicyWebhookError):
    """The rendered manifests of a directory could not be loaded.

    `unreadable` is True when the directory itself is missing or cannot be listed, False when
    it was read but some of its files are bad (so a previous good snapshot may be kept).
    """

    def __init__(self, directory: str, reason: str, *, unreadable: bool) -> None:
        self.directory = directory
        self.reason = reason
        self.unreadable = unreadable
        super().__init__(f"{directory}: {reason}")


class ReviewError(PolicyWebhookError):
    """An AdmissionReview body is malformed."""


class SuiteError(PolicyWebhookError):
    """A policy test suite or a file it names is invalid; names the file, the line and why."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class CertificateError(PolicyWebhookError):
    """A certificate or key file is unreadable, malformed, or the key does not match."""


class SettingsError(PolicyWebhookError):
    """A setting (flag or environment variable) has an invalid value."""


class KubeConfigError(PolicyWebhookError):
    """The credentials for the Kubernetes API (token file, CA bundle) cannot be read."""


class KubeApiError(PolicyWebhookError):
    """The Kubernetes API answered with an error Status (code, reason, message) or with a
    body that is not what was asked for (code 0)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        status = f"HTTP {code} {reason}" if code else reason
        super().__init__(f"{status}: {message}" if message else status)


class ExpiredError(KubeApiError):
    """410 Gone / Expired: the resource version is too old; the client must list again."""
