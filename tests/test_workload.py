"""The pod view: the pod spec of a Pod or a workload's template, its containers with their
paths, and the pod traits it reads once for every control."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import json_values
from webhook.workload import CONTAINER_LISTS, pod_view

JSONObject = dict[str, Any]


def pod(**spec: Any) -> JSONObject:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


@pytest.mark.parametrize(
    ("system", "windows"),
    [
        ({"name": "windows"}, True),
        ({"name": "linux"}, False),
        ({"name": "Windows"}, False),
        ({}, False),
        ("windows", False),
        (None, False),
    ],
)
def test_windows_is_os_name_windows(system: Any, windows: bool) -> None:
    view = pod_view(pod(os=system, containers=[]), "", "Pod")
    assert view is not None
    assert view.windows is windows


@pytest.mark.parametrize(
    ("host_users", "user_namespace"),
    [(False, True), (True, False), (None, False), ("false", False), (0, False)],
)
def test_user_namespace_is_host_users_false(host_users: Any, user_namespace: bool) -> None:
    view = pod_view(pod(hostUsers=host_users, containers=[]), "", "Pod")
    assert view is not None
    assert view.user_namespace is user_namespace


def test_a_pod_without_those_fields_is_linux_with_host_users() -> None:
    view = pod_view(pod(containers=[{"name": "app"}]), "", "Pod")
    assert view is not None
    assert (view.windows, view.user_namespace) == (False, False)


def test_a_deployment_template_is_seen_with_its_paths() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": {"spec": {"os": {"name": "windows"}, "containers": [{"name": "a"}]}}},
    }
    view = pod_view(deployment, "apps", "Deployment")
    assert view is not None
    assert view.windows
    assert view.spec_path == "/spec/template/spec"
    assert [container.path for container in view.containers] == ["/spec/template/spec/containers/0"]


SPEC_VALUES = st.dictionaries(
    st.sampled_from(["os", "hostUsers", "securityContext", *CONTAINER_LISTS]),
    json_values
    | st.lists(st.dictionaries(st.sampled_from(["name", "securityContext"]), json_values)),
    max_size=5,
)


@given(spec=SPEC_VALUES)
@settings(max_examples=300, deadline=None)
def test_the_view_reads_what_the_spec_says(spec: JSONObject) -> None:
    view = pod_view(pod(**spec), "", "Pod")
    assert view is not None
    system = spec.get("os")
    assert view.windows == (isinstance(system, dict) and system.get("name") == "windows")
    assert view.user_namespace == (spec.get("hostUsers") is False)
    security = spec.get("securityContext")
    assert view.security_context == (security if isinstance(security, dict) else {})
    expected = [
        (list_name, index, entry)
        for list_name in CONTAINER_LISTS
        if isinstance(spec.get(list_name), list)
        for index, entry in enumerate(spec[list_name])
        if isinstance(entry, dict)
    ]
    assert [(c.list_name, c.index, c.spec) for c in view.containers] == expected
    for container in view.containers:
        own = container.spec.get("securityContext")
        assert container.security_context == (own if isinstance(own, dict) else {})
    assert view.container_security_keys == {
        key for container in view.containers for key in container.security_context
    }
