"""Policy test suites from files: discovery, validation and the fixtures they name.

Suites are the `*.yaml`/`*.yml` files directly inside a folder named `tests`; fixtures (object
files, AdmissionReviews) go in its subfolders. Every error names the file, the line and why;
a bad suite is reported and the other suites still run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
from pydantic import ValidationError

from webhook.errors import ReviewError, SuiteError
from webhook.manifests import read_source
from webhook.policytest.model import Case, PolicyTestDocument
from webhook.review import AdmissionRequest, decode_review
from webhook.yamldoc import YAMLDocument, YAMLDocumentError, iter_documents

SUITE_SUFFIXES = (".yaml", ".yml")
SUITE_DIRECTORY = "tests"
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A validated case with its fixtures read: an object, or the request of a review file."""

    spec: Case
    line: int
    object: dict[str, Any] | None
    review: AdmissionRequest | None
    expect_lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    file: str
    line: int
    policies: tuple[Path, ...]
    policies_line: int
    today: date | None
    cases: tuple[LoadedCase, ...]


@dataclass(slots=True)
class LoadResult:
    suites: list[Suite] = field(default_factory=list)
    errors: list[SuiteError] = field(default_factory=list)


def suite_files(paths: Iterable[Path]) -> tuple[list[Path], list[SuiteError]]:
    """Suite files under `paths` (a file given by name is a suite), sorted; missing paths fail."""
    files: list[Path] = []
    errors: list[SuiteError] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                candidate
                for candidate in sorted(path.rglob("*"))
                if candidate.is_file()
                and candidate.suffix in SUITE_SUFFIXES
                and candidate.parent.name == SUITE_DIRECTORY
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
        else:
            errors.append(SuiteError(str(path), None, "no such file or directory"))
    return files, errors


def load_suites(paths: Sequence[Path | str]) -> LoadResult:
    """Load every suite under `paths`; never raises for bad content (errors are collected)."""
    result = LoadResult()
    files, result.errors = suite_files(Path(path) for path in paths)
    for file in files:
        suites, errors = load_suite_file(file)
        result.suites.extend(suites)
        result.errors.extend(errors)
    if not files and not result.errors:
        where = ", ".join(str(path) for path in paths)
        result.errors.append(
            SuiteError(
                where, None, f"no test suites found (files in a `{SUITE_DIRECTORY}/` folder)"
            )
        )
    return result


def _read_text(file: Path) -> str:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise SuiteError(str(file), None, f"file is larger than {MAX_FILE_BYTES} bytes")
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SuiteError(str(file), None, f"not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise SuiteError(str(file), None, f"cannot read: {error.strerror}") from None


def load_suite_file(file: Path) -> tuple[list[Suite], list[SuiteError]]:
    """The suites of one file, and an error for each bad document or fixture."""
    name = str(file)
    try:
        documents = list(iter_documents(_read_text(file)))
    except SuiteError as error:
        return [], [error]
    except YAMLDocumentError as error:
        return [], [SuiteError(name, error.line, f"invalid YAML: {error.reason}")]
    if not documents:
        return [], [SuiteError(name, None, "the file holds no PolicyTest document")]
    suites: list[Suite] = []
    errors: list[SuiteError] = []
    for document in documents:
        try:
            suites.append(_load_document(document, file))
        except SuiteError as error:
            errors.append(error)
        except _SuiteErrors as many:
            errors.extend(many.errors)
    return suites, errors


class _SuiteErrors(Exception):
    def __init__(self, errors: list[SuiteError]) -> None:
        self.errors = errors


def _load_document(document: YAMLDocument, file: Path) -> Suite:
    name = str(file)
    value = document.value
    if not isinstance(value, dict):
        raise SuiteError(name, document.line, "a PolicyTest document must be a mapping")
    if value.get("kind") != "PolicyTest":
        raise SuiteError(
            name,
            document.line,
            f"kind {value.get('kind')!r} is not PolicyTest (object files for `file:` belong "
            f"in a subfolder such as {SUITE_DIRECTORY}/objects/)",
        )
    try:
        parsed = PolicyTestDocument.model_validate(value)
    except ValidationError as error:
        raise _SuiteErrors(validation_errors(error, document, name)) from None
    base = file.parent
    cases: list[LoadedCase] = []
    errors: list[SuiteError] = []
    for index, case in enumerate(parsed.spec.cases):
        where: list[str | int] = ["spec", "cases", index]
        try:
            cases.append(_load_case(case, base, document, where, name))
        except SuiteError as error:
            errors.append(error)
    if errors:
        raise _SuiteErrors(errors)
    return Suite(
        name=parsed.metadata.name,
        file=name,
        line=document.line,
        policies=tuple(Path(os.path.normpath(base / text)) for text in parsed.spec.policies),
        policies_line=document.line_of(["spec", "policies"]),
        today=parsed.spec.today,
        cases=tuple(cases),
    )


def validation_errors(
    error: ValidationError, document: YAMLDocument, file: str
) -> list[SuiteError]:
    """One SuiteError per pydantic error, each at the line of the field it is about."""
    found = []
    for item in error.errors():
        location = [step for step in item["loc"] if isinstance(step, str | int)]
        field_name = ".".join(str(step) for step in location) or "document"
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(SuiteError(file, document.line_of(location), f"{field_name}: {message}"))
    return found


def _load_case(
    case: Case, base: Path, document: YAMLDocument, where: list[str | int], file: str
) -> LoadedCase:
    obj = case.object
    review: AdmissionRequest | None = None
    if case.file is not None:
        obj = _object_file(base / case.file, file, document.line_of([*where, "file"]))
    elif case.review is not None:
        review = _review_file(base / case.review, file, document.line_of([*where, "review"]))
    elif obj is not None and not (
        isinstance(obj.get("apiVersion"), str) and isinstance(obj.get("kind"), str)
    ):
        raise SuiteError(
            file, document.line_of([*where, "object"]), "object: needs apiVersion and kind"
        )
    return LoadedCase(
        spec=case,
        line=document.line_of(where),
        object=obj,
        review=review,
        expect_lines=tuple(
            document.line_of([*where, "expect", position]) for position in range(len(case.expect))
        ),
    )


def _object_file(path: Path, suite: str, line: int) -> dict[str, Any]:
    if not path.is_file():
        raise SuiteError(suite, line, f"file: {path} does not exist")
    source = read_source(str(path))
    if source.errors:
        raise SuiteError(suite, line, f"file: {source.errors[0]}")
    if len(source.manifests) != 1:
        raise SuiteError(
            suite, line, f"file: {path} holds {len(source.manifests)} objects, expected one"
        )
    return source.manifests[0].object


def _review_file(path: Path, suite: str, line: int) -> AdmissionRequest:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SuiteError(suite, line, f"review: {path}: cannot read: {error.strerror}") from None
    if path.suffix != ".json":
        try:
            documents = list(iter_documents(data.decode("utf-8")))
        except (UnicodeDecodeError, YAMLDocumentError) as error:
            raise SuiteError(suite, line, f"review: {path}: invalid YAML: {error}") from None
        if len(documents) != 1:
            raise SuiteError(suite, line, f"review: {path} must hold one AdmissionReview")
        data = msgspec.json.encode(documents[0].value)
    try:
        return decode_review(data).request
    except ReviewError as error:
        raise SuiteError(suite, line, f"review: {path}: {error}") from None
