"""The desired state: rendered manifests from Git, indexed, and compared with requested objects."""
