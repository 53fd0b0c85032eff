"""The Kubernetes API, for the labels of namespaces: a small client and the namespace source."""
