"""An object's head back as the object: every key it holds, in its order, but managedFields."""

from __future__ import annotations

import msgspec
import pytest

from webhook.objecthead import ObjectHead, ObjectMeta, skippable, without_managed_fields

META_KEYS = [key for key in ObjectMeta.__struct_fields__ if key != "managedFields"]
MANAGED = b'[{"manager":"kubectl","operation":"Update"}]'


def head_of(obj: bytes) -> ObjectHead:
    return msgspec.json.decode(obj, type=ObjectHead)


def test_every_metadata_key_but_managed_fields_is_kept_in_order() -> None:
    metadata = {key: f"v-{key}" for key in META_KEYS}
    document = {"kind": "Pod", "metadata": {**metadata, "managedFields": []}, "spec": {}}
    obj = without_managed_fields(head_of(msgspec.json.encode(document)))
    assert list(obj["metadata"].items()) == list(metadata.items())
    assert list(obj) == ["kind", "metadata", "spec"]


@pytest.mark.parametrize("missing", META_KEYS)
def test_a_metadata_key_not_sent_is_not_set(missing: str) -> None:
    metadata = {key: index for index, key in enumerate(META_KEYS) if key != missing}
    document = {"metadata": metadata}
    assert without_managed_fields(head_of(msgspec.json.encode(document))) == document


@pytest.mark.parametrize("other", ["data", "rules", "webhooks", "revision"])
def test_an_object_with_other_keys_keeps_them_in_order(other: str) -> None:
    body = b'{"apiVersion":"v1","%s":{"a":1},"metadata":{"name":"a","managedFields":%s},"kind":"K"}'
    obj = without_managed_fields(head_of(body % (other.encode(), MANAGED)))
    assert list(obj) == ["kind", "apiVersion", "metadata", other]  # ObjectHead's order
    assert obj == {"apiVersion": "v1", other: {"a": 1}, "metadata": {"name": "a"}, "kind": "K"}


def test_no_key_set_is_an_empty_object() -> None:
    assert without_managed_fields(head_of(b"{}")) == {}


@pytest.mark.parametrize(
    ("managed", "kept"),
    [(MANAGED, True), (b'[{"manager":"\xc3\xa9"}]', False), (None, True)],
    ids=["ascii", "not-ascii", "absent"],
)
def test_managed_fields_stay_skipped_only_when_ascii(managed: bytes | None, kept: bool) -> None:
    body = (
        b'{"metadata":{"name":"a"}}'
        if managed is None
        else (b'{"metadata":{"name":"a","managedFields":%s}}' % managed)
    )
    assert skippable(head_of(body)) is kept
