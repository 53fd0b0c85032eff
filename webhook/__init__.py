"""policy-webhook: a policy-as-code admission webhook for Kubernetes and its dry run for CI."""

__version__ = "0.1.0"
