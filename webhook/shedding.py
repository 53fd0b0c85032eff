"""Load shedding: the answer to a request beyond a worker's in-flight limit, without evaluation.

The answer follows the failure mode, as an internal error does: `deny` refuses with code 429
(Too Many Requests, which the API server passes on, so clients and controllers retry);
`allow` admits with a warning that nothing was evaluated. It costs a fraction of an
evaluation, so a shedding worker catches up instead of letting the queue reach the timeout.
"""

from __future__ import annotations

import logging
import time

from webhook.admission import Reply, error_body
from webhook.errors import ReviewError
from webhook.metrics import Metrics
from webhook.review import decode_identity, encode_response
from webhook.settings import FailureMode, Settings

LOG = logging.getLogger("policy_webhook.shedding")
LOG_EVERY_SECONDS = 1.0  # a shedding worker logs one line per second at most


class Shedder:
    """Answers shed requests; one per app."""

    def __init__(self, *, settings: Settings, metrics: Metrics) -> None:
        self.limit = settings.max_in_flight
        self.failure_mode = settings.failure_mode
        self.metrics = metrics
        self.text = (
            f"policy-webhook is overloaded (more than {self.limit} requests in flight in this "
            "worker); the request was not evaluated"
        )
        self._shed_since_log = 0
        self._logged_at = 0.0

    def answer(self, endpoint: str, body: bytes) -> Reply:
        """The failure mode's answer, or HTTP 400 when the body is no AdmissionReview."""
        try:
            api_version, uid = decode_identity(body)
        except ReviewError as error:
            return Reply(400, error_body(str(error)))
        self.metrics.shed_requests.labels(endpoint).inc()
        self._log()
        if self.failure_mode is FailureMode.ALLOW or endpoint == "mutate":
            # /mutate only sets defaults: admitting unpatched leaves /validate to decide.
            warning = f"{self.text}; admitted because the failure mode is allow"
            if endpoint == "mutate":
                warning = f"{self.text}; admitted without defaults"
            answer = encode_response(
                api_version=api_version, uid=uid, allowed=True, warnings=[warning]
            )
        else:
            answer = encode_response(
                api_version=api_version,
                uid=uid,
                allowed=False,
                code=429,
                message=f"{self.text}; denied because the failure mode is deny, retry",
            )
        return Reply(200, answer)

    def _log(self) -> None:
        self._shed_since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            LOG.warning(
                "shedding load",
                extra={"fields": {"limit": self.limit, "shed": self._shed_since_log}},
            )
            self._logged_at = now
            self._shed_since_log = 0
