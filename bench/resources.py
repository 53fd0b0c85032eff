"""Realistic non-workload objects for the benchmarks: ConfigMaps, Secrets, Services, Ingresses,
Namespaces and a custom resource, each with the managedFields of the tool that applied it.
"""

from __future__ import annotations

import base64

from bench.objects import APPS, CREATED, NAMESPACES, JSONObject, _uid, labels, managed_entry


def _metadata(name: str, namespace: str, seed: int, salt: int) -> JSONObject:
    return {
        "name": name,
        "namespace": namespace,
        "uid": _uid(seed, salt),
        "resourceVersion": str(400000 + seed),
        "creationTimestamp": CREATED,
        "labels": labels(APPS[seed % len(APPS)], seed),
        "annotations": {"argocd.argoproj.io/tracking-id": f"shop:/{name}"},
    }


def _applied(obj: JSONObject, *fields: str) -> JSONObject:
    tree = {"metadata": {"labels": obj["metadata"]["labels"]}}
    tree.update({name: obj[name] for name in fields if name in obj})
    obj["metadata"]["managedFields"] = [managed_entry("argocd-controller", "Apply", tree)]
    return obj


def config_map(seed: int) -> JSONObject:
    app = APPS[seed % len(APPS)]
    data = {
        "app.yaml": "\n".join(f"key{i}: value-{seed}-{i}" for i in range(30)),
        "LOG_LEVEL": "info",
        "FEATURE_FLAGS": "search-v2,fast-checkout",
    }
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(f"{app}-config", NAMESPACES[seed % len(NAMESPACES)], seed, 4),
        "data": data,
    }
    return _applied(obj, "data")


def secret(seed: int) -> JSONObject:
    app = APPS[seed % len(APPS)]
    value = base64.b64encode(f"s3cr3t-{seed:08d}".encode()).decode()
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(f"{app}-db", NAMESPACES[seed % len(NAMESPACES)], seed, 5),
        "data": {"username": base64.b64encode(app.encode()).decode(), "password": value},
    }
    return _applied(obj, "data", "type")


def service(seed: int) -> JSONObject:
    app = APPS[seed % len(APPS)]
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app, NAMESPACES[seed % len(NAMESPACES)], seed, 6),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": app},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
            ],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
    }
    return _applied(obj, "spec")


def ingress(seed: int) -> JSONObject:
    app = APPS[seed % len(APPS)]
    host = f"{app}.shop.example.com"
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(app, NAMESPACES[seed % len(NAMESPACES)], seed, 7),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": f"{app}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": app, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    return _applied(obj, "spec")


def namespace(seed: int) -> JSONObject:
    name = f"team-{APPS[seed % len(APPS)]}-{seed % 50}"
    metadata = _metadata(name, "", seed, 8)
    del metadata["namespace"]
    metadata["labels"] = {
        "kubernetes.io/metadata.name": name,
        "pod-security.kubernetes.io/enforce": "restricted",
        "team": name,
    }
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata, "spec": {}}
    return _applied(obj)


def certificate(seed: int) -> JSONObject:
    """A custom resource (cert-manager Certificate)."""
    app = APPS[seed % len(APPS)]
    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _metadata(f"{app}-tls", NAMESPACES[seed % len(NAMESPACES)], seed, 9),
        "spec": {
            "secretName": f"{app}-tls",
            "dnsNames": [f"{app}.shop.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        },
    }
    return _applied(obj, "spec")
