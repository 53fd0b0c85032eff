"""The projected decode: only what the policy set's checks read of the object, and the same
findings as a full decode.

Two things keep the projection honest: every check that declares its reads is watched while it
runs on every Pod Security fixture (as a Pod, a Deployment and a CronJob), and must read
exactly the keys it declares; and the projected object is compared with the full one, less
the keys nobody declared, on fixtures, real reviews and generated bodies, with the findings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given

from tests.asgi_client import call
from tests.conftest import DATA, POLICIES
from tests.helpers import request
from tests.reviews import admission_review
from tests.strategies import managed_fields_bodies, review_bodies, valid_reviews
from tests.test_pod_security_conformance import FILES, TEMPLATE_PREFIXES, as_kind
from tests.test_review_skim import PROPERTY, fields
from webhook.admission import Evaluate
from webhook.app import create_app
from webhook.checks import CHECKS
from webhook.checks.base import CompiledCheck, EvaluationContext
from webhook.checks.pod_security_host import LIFECYCLE_HANDLERS, PROBES
from webhook.engine import build_context, evaluate
from webhook.errors import ReviewError
from webhook.findings import Finding
from webhook.namespaces import NamespaceLabels
from webhook.objecthead import ObjectMeta
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.projection import (
    EACH,
    METADATA_KEYS,
    VIEW_READS,
    PodReads,
    read_steps,
    review_decoder,
)
from webhook.review import AdmissionRequest, AdmissionReview, decode_review
from webhook.settings import Settings
from webhook.workload import CONTAINER_LISTS, pod_template_path, pod_view

JSONObject = dict[str, Any]
TODAY = date(2026, 6, 1)
PSS = load_policy_set([POLICIES / "pod-security"])
WORKLOADS = load_policy_set([POLICIES / "pod-security", POLICIES / "workloads"])
EVERYTHING = object()  # what a watched dict records when it is read whole


# ---- watching what checks read ----


Path_ = tuple[object, ...]  # the keys from a pod spec or a container down, EACH for an entry


class Watched(dict[str, Any]):
    """A dict that records the paths of the keys read from it (EVERYTHING at its own path when
    it is iterated or copied)."""

    def __init__(self, data: JSONObject, log: set[Path_], at: Path_ = ()) -> None:
        super().__init__(data)
        self.log = log
        self.at = at

    def get(self, key: str, default: Any = None) -> Any:
        self.log.add((*self.at, key))
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.log.add((*self.at, key))
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.log.add((*self.at, key))
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.log.add((*self.at, EVERYTHING))
        return super().__iter__()

    def keys(self) -> Any:
        self.log.add((*self.at, EVERYTHING))
        return super().keys()

    def items(self) -> Any:
        self.log.add((*self.at, EVERYTHING))
        return super().items()

    def values(self) -> Any:
        self.log.add((*self.at, EVERYTHING))
        return super().values()

    def __len__(self) -> int:
        self.log.add((*self.at, EVERYTHING))
        return super().__len__()


def watching(value: Any, log: set[Path_], at: Path_ = ()) -> Any:
    """`value` with every dict in it watched into `log` (the entries of a list at EACH)."""
    if isinstance(value, dict):
        return Watched(
            {key: watching(item, log, (*at, key)) for key, item in value.items()}, log, at
        )
    if isinstance(value, list):
        return [watching(item, log, (*at, EACH)) for item in value]
    return value


class Reads:
    """What was read of an object's top level, its pod spec and its containers (paths)."""

    def __init__(self) -> None:
        self.top: set[Path_] = set()
        self.spec: set[Path_] = set()
        self.container: set[Path_] = set()


def template_of(obj: JSONObject, kind: str) -> JSONObject:
    """The pod template of `obj` (the object itself for a Pod)."""
    keys = pod_template_path(obj["apiVersion"].rpartition("/")[0], kind)
    assert keys is not None, kind
    parent = obj
    for key in keys:
        parent = parent[key]
    return parent


def watched(obj: JSONObject, kind: str, reads: Reads) -> JSONObject:
    """`obj` with its top level, its pod spec and every container watched into `reads`."""
    obj = copy.deepcopy(obj)
    parent = template_of(obj, kind)
    spec = parent["spec"]
    containers = {}
    for name in CONTAINER_LISTS:
        if isinstance(spec.get(name), list):
            containers[name] = [watching(entry, reads.container) for entry in spec.pop(name)]
    spec = watching(spec, reads.spec)
    dict.update(spec, containers)
    parent["spec"] = spec
    return Watched(obj, reads.top)


def undeclared(read: set[Path_], declared: frozenset[str]) -> set[Path_]:
    """The reads that reach beyond the declared paths: a key read on the way down a declared
    path, or anything inside a value declared whole, is declared; an object iterated or
    copied is only when it is read whole."""
    paths = [read_steps(path) for path in declared]
    beyond = set()
    for path in read:
        *at, key = path
        inside = any(path[: len(whole)] == whole for whole in paths if len(whole) <= len(at))
        on_the_way = key is not EVERYTHING and any(whole[: len(path)] == path for whole in paths)
        if not (inside or on_the_way):
            beyond.add(path)
    return beyond


def declaring_checks() -> list[tuple[str, CompiledCheck]]:
    """Every built-in check that declares what it reads of the pod spec: those without
    parameters, and those of the shipped policies with their parameters."""
    found = []
    for name in sorted(CHECKS):
        try:
            compiled = CHECKS[name].build({}, Path("."))
        except Exception:  # a check with required parameters: see the shipped policies
            continue
        if compiled.pod_reads is not None:
            found.append((name, compiled))
    for policy in load_policy_set([POLICIES]).policies:
        for rule in policy.rules:
            if rule.check.pod_reads is not None:
                found.append((f"{policy.name}/{rule.name}", rule.check))
    return found


DECLARING = declaring_checks()
KINDS = list(TEMPLATE_PREFIXES)  # Pod, Deployment, CronJob


def fixture_objects() -> Iterator[tuple[JSONObject, str]]:
    for path in FILES:
        pod = yaml.safe_load(path.read_text())
        pod["metadata"].setdefault("namespace", "default")
        for kind in KINDS:
            yield as_kind(pod, kind), kind


def test_every_pod_security_control_and_workload_check_declares_its_reads() -> None:
    names = {name for name, _ in DECLARING}
    controls = {name for name in CHECKS if name.startswith("podSecurity/")}
    assert len(controls) == 19
    assert controls | {"nonRoot", "readOnlyRootFilesystem"} <= names
    workloads = load_policy_set([POLICIES / "workloads"])
    assert {f"{policy.name}/{rule.name}" for policy in workloads.policies for rule in policy.rules}
    assert all(rule.check.pod_reads is not None for p in workloads.policies for rule in p.rules)


@pytest.mark.parametrize(("name", "check"), DECLARING, ids=[name for name, _ in DECLARING])
def test_a_check_reads_exactly_the_keys_it_declares(name: str, check: CompiledCheck) -> None:
    declared = check.pod_reads
    assert declared is not None
    reads = Reads()
    ran = 0
    for obj, kind in fixture_objects():
        obj = with_every_handler(with_unread_fields(obj, kind), kind)
        context = build_context(request(watched(obj, kind, reads)))
        assert context.pod is not None
        check.run(context)
        if check.run_pod is not None:
            check.run_pod(context.pod)
        ran += 1
    assert ran == len(FILES) * len(KINDS)
    # Read beyond what the pod view reads: what is declared (each path down to its end), and
    # nothing else.
    spec, container = declared.spec | VIEW_READS.spec, declared.container | VIEW_READS.container
    assert not undeclared(reads.spec, spec), (name, undeclared(reads.spec, spec))
    assert not undeclared(reads.container, container), (
        name,
        undeclared(reads.container, container),
    )
    # Each path it declares is read (beyond the view, which reads a container's name only
    # when a finding names the container).
    assert {read_steps(path) for path in declared.spec} <= reads.spec, name
    beyond_view = declared.container - VIEW_READS.container
    assert {read_steps(path) for path in beyond_view} <= reads.container, name
    assert all(path[1:] == () for path in reads.top)
    assert {path[0] for path in reads.top} <= {"kind", "apiVersion", "metadata", "spec", "template"}


def test_the_pod_view_reads_what_every_check_is_granted() -> None:
    reads = Reads()
    for obj, kind in fixture_objects():
        group = obj["apiVersion"].rpartition("/")[0]
        view = pod_view(watched(obj, kind, reads), group, kind)
        assert view is not None
        for container in view.containers:
            assert container.name  # read when a finding names the container
    assert {path[0] for path in reads.spec} == set(VIEW_READS.spec)
    assert {path[0] for path in reads.container} == set(VIEW_READS.container)
    assert not undeclared(reads.spec, VIEW_READS.spec)
    assert not undeclared(reads.container, VIEW_READS.container)


def test_watching_sees_a_read_the_declaration_leaves_out() -> None:
    reads = Reads()
    container = {"ports": [{"containerPort": 80}], "livenessProbe": {"httpGet": {"port": 80}}}
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [container]}}
    pod = pod_view(watched(obj, "Pod", reads), "", "Pod")
    assert pod is not None
    spec = pod.containers[0].spec
    spec.get("env")
    spec["ports"][0].get("containerPort")
    list(spec["livenessProbe"]["httpGet"])
    dict(pod.spec)
    declared = VIEW_READS.container | {"ports[].hostPort", "livenessProbe.httpGet.host"}
    assert undeclared(reads.container, declared) == {
        ("env",),
        ("ports", EACH, "containerPort"),
        ("livenessProbe", "httpGet", EVERYTHING),
    }
    assert undeclared(reads.container, declared | {"env", "ports", "livenessProbe"}) == set()
    assert (EVERYTHING,) in reads.spec


# ---- the projected object against the full one ----


class Unfit(Exception):
    """A value of another type where the projection declares an object or a list."""


def projection_of(obj: Any, reads: PodReads) -> Any:
    """What the projected decode must give for `obj`, worked out from the full object; raises
    Unfit when it cannot project it."""
    if obj is None:
        return None
    kept: JSONObject = {}
    for key, value in _object(obj).items():
        if key in ("kind", "apiVersion"):
            kept[key] = value
        elif key == "metadata":
            kept[key] = _metadata(value)
        elif key == "spec":
            kept[key] = _spec(value, reads, workload=True)
        elif key == "template":
            kept[key] = _template(value, reads)
    return kept


def _object(value: Any) -> JSONObject:
    if not isinstance(value, dict):
        raise Unfit
    return value


def _metadata(metadata: Any) -> JSONObject:
    return {key: value for key, value in _object(metadata).items() if key in METADATA_KEYS}


def _template(template: Any, reads: PodReads) -> JSONObject:
    kept: JSONObject = {}
    for key, value in _object(template).items():
        if key == "metadata":
            kept[key] = _metadata(value)
        elif key == "spec":
            kept[key] = _spec(value, reads, workload=False)
    return kept


def _read(value: Any, paths: list[Path_]) -> Any:
    """What reading `paths` (relative to `value`) keeps of it: the value itself when one path
    ends here, each entry of a list for EACH, else the keys the paths go on with."""
    if () in paths:
        return value
    if paths[0][0] == EACH:
        if not isinstance(value, list):
            raise Unfit
        return [_read(entry, [path[1:] for path in paths]) for entry in value]
    return {
        key: _read(field, [path[1:] for path in paths if path[0] == key])
        for key, field in _object(value).items()
        if any(path[0] == key for path in paths)
    }


def _spec(spec: Any, reads: PodReads, *, workload: bool) -> JSONObject:
    kept: JSONObject = {}
    spec_paths: list[Path_] = [read_steps(path) for path in reads.spec]
    container_paths: list[Path_] = [read_steps(path) for path in reads.container]
    for key, value in _object(spec).items():
        if key in CONTAINER_LISTS:
            if not isinstance(value, list):
                raise Unfit
            kept[key] = [_read(entry, container_paths) for entry in value]
        elif any(path[0] == key for path in spec_paths):
            kept[key] = _read(value, [path[1:] for path in spec_paths if path[0] == key])
        elif workload and key == "template":
            kept[key] = _template(value, reads)
        elif workload and key == "jobTemplate":
            job: JSONObject = {}
            for job_key, job_value in _object(value).items():
                if job_key == "spec":
                    job["spec"] = {
                        name: _template(template, reads)
                        for name, template in _object(job_value).items()
                        if name == "template"
                    }
            kept[key] = job
    return kept


def decoded(body: bytes, *, projected: bool) -> AdmissionReview | str:
    """The review (projected with the Pod Security set's reads, or in full), or the error."""
    assert PSS.pod_reads is not None
    try:
        if projected:
            return decode_review(
                body, managed_fields=False, projected=review_decoder(PSS.pod_reads)
            )
        return decode_review(body)
    except ReviewError as error:
        return str(error)


def findings(request: AdmissionRequest) -> list[Finding] | str:
    try:
        return evaluate(request, PSS, today=TODAY)
    except msgspec.ValidationError as error:  # an old object read on first use
        return str(error)


def assert_projects_full(body: bytes) -> None:
    """The projected decode gives the full decode's fields, its object less what no check reads
    (or whole, when projecting was not possible), its errors, and the same findings."""
    assert PSS.pod_reads is not None
    full = decoded(body, projected=False)
    projected = decoded(body, projected=True)
    if isinstance(full, str):
        # As when skipping managedFields: a number out of range inside a skipped value is not
        # seen (the API server, which decoded the object itself, never sends one).
        assert projected == full or "out of range" in full, (projected, full)
        return
    assert isinstance(projected, AdmissionReview), projected
    assert (projected.apiVersion, projected.kind) == (full.apiVersion, full.kind)
    assert fields(projected.request) == fields(full.request)
    obj, whole = projected.request.object, full.request.object
    try:
        expected = projection_of(whole, PSS.pod_reads)
    except Unfit:
        expected = Unfit
    if expected is Unfit or not body.isascii():
        # Not projected: the object as the managedFields-skipping decode gives it.
        assert obj == decode_review(body, managed_fields=False).request.object
    else:
        assert obj == expected
    assert findings(projected.request) == findings(full.request)


def envelope(obj: JSONObject) -> bytes:
    """A review of `obj` with what the Pod Security set never reads added to it."""
    obj = copy.deepcopy(obj)
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update"}]
    obj["status"] = {"phase": "Pending"}
    return msgspec.json.encode(admission_review(obj))


def with_every_handler(obj: JSONObject, kind: str) -> JSONObject:
    """`obj` with every probe and lifecycle handler its containers lack, each with every
    action (none naming a host), so that reads into them are seen."""
    obj = copy.deepcopy(obj)
    parent = template_of(obj, kind)
    for name in CONTAINER_LISTS:
        for entry in parent["spec"].get(name) or []:
            for probe in PROBES:
                entry.setdefault(probe, {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}})
            lifecycle = entry.setdefault("lifecycle", {})
            for handler in LIFECYCLE_HANDLERS:
                lifecycle.setdefault(handler, {"httpGet": {"port": 80}, "tcpSocket": {"port": 81}})
            entry.setdefault("ports", [{"containerPort": 80}])
    return obj


def with_unread_fields(obj: JSONObject, kind: str) -> JSONObject:
    """`obj` with env, resources and volume mounts in its containers, and a node selector."""
    obj = copy.deepcopy(obj)
    spec = template_of(obj, kind)["spec"]
    spec["nodeSelector"] = {"disk": "ssd"}
    for name in CONTAINER_LISTS:
        for entry in spec.get(name) or []:
            entry["env"] = [{"name": "MODE", "value": "prod"}]
            entry["resources"] = {"limits": {"cpu": "1"}}
            entry["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return obj


@pytest.mark.parametrize(
    "policies", [PSS, WORKLOADS], ids=["pod-security", "pod-security-and-workloads"]
)
def test_every_fixture_projects_to_what_the_checks_read_with_the_same_findings(
    policies: PolicySet,
) -> None:
    reads = policies.pod_reads
    assert reads is not None
    projected = 0
    for obj, kind in fixture_objects():
        body = envelope(with_unread_fields(obj, kind))
        full = decode_review(body)
        review = decode_review(body, managed_fields=False, projected=review_decoder(reads))
        assert review.request.object == projection_of(full.request.object, reads)
        assert "status" not in (review.request.object or {})
        expected = evaluate(full.request, policies, today=TODAY)
        assert evaluate(review.request, policies, today=TODAY) == expected
        projected += 1
    assert projected == len(FILES) * len(KINDS)


def test_key_order_is_the_full_decodes() -> None:
    assert PSS.pod_reads is not None
    pod = {
        "spec": {"volumes": [], "containers": [{"ports": [], "env": [], "name": "a"}]},
        "metadata": {"namespace": "n", "name": "p"},
        "kind": "Pod",
        "apiVersion": "v1",
    }
    review = decoded(msgspec.json.encode(admission_review(pod)), projected=True)
    assert isinstance(review, AdmissionReview)
    obj = review.request.object
    assert obj is not None
    assert list(obj) == ["spec", "metadata", "kind", "apiVersion"]
    assert list(obj["metadata"]) == ["namespace", "name"]
    assert list(obj["spec"]["containers"][0]) == ["ports", "name"]


def test_the_metadata_keys_are_api_keys_without_managed_fields() -> None:
    assert set(METADATA_KEYS) < set(ObjectMeta.__struct_fields__)
    assert {"name", "generateName", "namespace", "labels", "annotations"} == set(METADATA_KEYS)
    assert "managedFields" not in METADATA_KEYS


def watched_metadata(obj: JSONObject, kind: str, log: set[Path_]) -> JSONObject:
    """`obj` with its metadata and its pod template's metadata watched into `log`."""
    obj = copy.deepcopy(obj)
    obj["metadata"] = Watched(obj["metadata"], log)
    parent = template_of(obj, kind)
    if parent is not obj and isinstance(parent.get("metadata"), dict):
        parent["metadata"] = Watched(parent["metadata"], log)
    return obj


@pytest.mark.parametrize(
    "policies", [PSS, WORKLOADS], ids=["pod-security", "pod-security-and-workloads"]
)
def test_evaluation_reads_only_the_projected_metadata(policies: PolicySet) -> None:
    log: set[Path_] = set()
    denied = 0
    for obj, kind in fixture_objects():
        obj["metadata"]["uid"] = "7c1b0001-2f4e-4c1a-9b3e-b75e2747e349"
        obj["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "r", "uid": "u"}]
        watched_request = request(watched_metadata(obj, kind, log))
        found = evaluate(watched_request, policies, today=TODAY)
        denied += bool(found)
    assert denied  # messages naming the object were built
    keys = {key for (key,) in log}
    assert EVERYTHING not in keys
    assert keys <= set(METADATA_KEYS), keys - set(METADATA_KEYS)
    assert "annotations" in keys and "name" in keys


def test_the_namespace_mirror_reads_only_the_projected_metadata() -> None:
    log: set[Path_] = set()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    namespace["metadata"] = Watched({"name": "team-a", "labels": {"team": "a"}, "uid": "u"}, log)
    labels = NamespaceLabels()
    labels.observe(request(namespace))
    assert labels.get("team-a") == {"team": "a"}
    keys = {key for (key,) in log}
    assert EVERYTHING not in keys
    assert keys <= set(METADATA_KEYS)


@PROPERTY
@given(review=valid_reviews())
def test_valid_reviews_project_as_the_full_decode(review: JSONObject) -> None:
    assert_projects_full(msgspec.json.encode(review))


@PROPERTY
@given(body=review_bodies())
def test_any_body_projects_as_the_full_decode(body: bytes) -> None:
    assert_projects_full(body)


@PROPERTY
@given(body=managed_fields_bodies())
def test_bodies_with_managed_fields_project_as_the_full_decode(body: bytes) -> None:
    assert_projects_full(body)


@pytest.mark.parametrize(
    "path", sorted((DATA / "admission-reviews").rglob("*.json")), ids=lambda path: path.stem
)
def test_real_reviews_project_as_the_full_decode(path: Path) -> None:
    data = path.read_bytes()
    document = json.loads(data)
    if isinstance(document, dict) and "metadata" in document:
        data = msgspec.json.encode(admission_review(document))
    assert_projects_full(data)


# ---- bodies the projection leaves to the other decodes ----


def pod_review(**container: Any) -> bytes:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", **container}]},
    }
    return msgspec.json.encode(admission_review(pod))


def test_a_body_that_is_not_ascii_is_decoded_whole() -> None:
    body = pod_review(env=[{"name": "GREETING", "value": "grüezi"}])
    review = decoded(body, projected=True)
    assert isinstance(review, AdmissionReview) and review.request.object is not None
    assert review.request.object["spec"]["containers"][0]["env"][0]["value"] == "grüezi"


def test_a_string_that_is_not_utf8_where_nothing_reads_is_still_refused() -> None:
    body = pod_review(env=[{"name": "X", "value": "@@"}]).replace(b"@@", b"\xff\xfe")
    refused = decoded(body, projected=True)
    assert isinstance(refused, str) and "UTF-8" in refused
    assert refused == decoded(body, projected=False)


def test_a_value_of_another_type_where_the_projection_expects_a_list_is_decoded_whole() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": None, "nodeName": "n1"},
    }
    review = decoded(msgspec.json.encode(admission_review(pod)), projected=True)
    assert isinstance(review, AdmissionReview)
    assert review.request.object == pod


# ---- which policy sets project, and which endpoint ----


def test_the_pod_security_set_projects_the_keys_its_controls_read() -> None:
    reads = PSS.pod_reads
    assert reads is not None
    assert {"hostNetwork", "hostPID", "hostIPC", "volumes"} <= reads.spec
    assert {
        "ports[].hostPort",
        "livenessProbe.httpGet.host",
        "lifecycle.preStop.tcpSocket.host",
    } <= (reads.container)
    assert not {"env", "resources", "volumeMounts", "image", "ports", "livenessProbe"} & (
        reads.container
    )


def test_the_workload_policies_add_the_images_and_resources() -> None:
    reads = WORKLOADS.pod_reads
    assert reads is not None and PSS.pod_reads is not None
    assert reads.container - PSS.pod_reads.container == {"image", "resources"}
    assert reads.spec == PSS.pod_reads.spec


@pytest.mark.parametrize(
    "policies",
    [[POLICIES], [POLICIES / "pod-security", DATA / "reliability" / "policies"]],
    ids=["shipped", "reliability"],
)
def test_a_set_with_a_check_that_does_not_declare_is_decoded_whole(policies: list[Path]) -> None:
    policy_set = load_policy_set(policies)
    assert policy_set.policies
    assert policy_set.pod_reads is None


def test_an_empty_set_reads_only_what_the_pod_view_reads() -> None:
    assert PolicySet(()).pod_reads == VIEW_READS


def test_validate_gets_the_projected_object_and_mutate_the_whole_one() -> None:
    seen: dict[str, JSONObject | None] = {}

    def recording(request: AdmissionRequest, policies: PolicySet, **kwargs: Any) -> list[Finding]:
        seen["validate"] = request.object
        return evaluate(request, policies, **kwargs)

    def mutating(
        request: AdmissionRequest, policies: PolicySet, **kwargs: Any
    ) -> tuple[JSONObject | None, list[str]]:
        seen["mutate"] = request.object
        return None, []

    record: Evaluate = recording
    app = create_app(settings=Settings(), policies=PSS, evaluate=record, mutate=mutating)
    body = pod_review(env=[{"name": "MODE", "value": "prod"}], image="nginx:1.27")
    assert call(app, "/validate", body).status_code == 200
    assert call(app, "/mutate", body).status_code == 200
    container = {"name": "app", "env": [{"name": "MODE", "value": "prod"}], "image": "nginx:1.27"}
    assert seen["mutate"] is not None and seen["validate"] is not None
    assert seen["mutate"]["spec"]["containers"] == [container]
    assert seen["validate"]["spec"]["containers"] == [{"name": "app"}]


def test_context_of_a_projected_pod_sees_the_same_pod() -> None:
    body = envelope(with_unread_fields(as_kind(yaml.safe_load(FILES[0].read_text()), "Pod"), "Pod"))
    review = decoded(body, projected=True)
    assert isinstance(review, AdmissionReview)
    context: EvaluationContext = build_context(review.request)
    full = build_context(decode_review(body).request)
    assert context.pod is not None and full.pod is not None
    assert [c.name for c in context.pod.containers] == [c.name for c in full.pod.containers]
    assert context.pod.security_context == full.pod.security_context


# ---- reads into values ----


@pytest.mark.parametrize(
    "container",
    [
        {"ports": None},
        {"ports": [None, {"hostPort": 8080}]},
        {"ports": ["http", {"hostPort": 8080}]},
        {"ports": [{"hostPort": None}, {"hostPort": "8080"}, {"containerPort": 80}]},
        {"livenessProbe": None},
        {"livenessProbe": {"httpGet": None, "periodSeconds": 3}},
        {"readinessProbe": {"tcpSocket": "::1"}},
        {"startupProbe": {"httpGet": {"host": 7, "port": 80}, "exec": {"command": ["x"]}}},
        {"startupProbe": {"tcpSocket": {"host": None}}},
        {"lifecycle": None},
        {"lifecycle": {"postStart": None, "stopSignal": "SIGTERM"}},
        {"lifecycle": {"preStop": {"tcpSocket": {"host": ""}}, "postStart": {"exec": {}}}},
        {"lifecycle": {"preStop": {"httpGet": {"host": {"a": 1}}}}},
    ],
)
def test_values_read_into_project_as_the_full_decode(container: JSONObject) -> None:
    body = pod_review(**container)
    assert_projects_full(body)
    review = decoded(body, projected=True)
    assert isinstance(review, AdmissionReview) and review.request.object is not None


def test_a_value_read_whole_by_one_check_is_whole_whatever_another_reads_into_it() -> None:
    reads = PodReads(frozenset(), frozenset({"ports[].hostPort", "ports", "lifecycle.preStop"}))
    body = pod_review(ports=[{"containerPort": 80}], lifecycle={"preStop": {"exec": {}}})
    obj = review_decoder(VIEW_READS | reads).decode(body).request.object
    assert obj is not None
    assert obj["spec"]["containers"] == [
        {"name": "app", "ports": [{"containerPort": 80}], "lifecycle": {"preStop": {"exec": {}}}}
    ]


def test_a_key_read_both_as_a_list_and_as_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="both as a list and as an object"):
        review_decoder(PodReads(frozenset(), frozenset({"ports[].hostPort", "ports.name"})))
