"""What GitOps means to the webhook, as pure functions: markers, controller identities, fields."""
