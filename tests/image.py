"""The Dockerfile without a Docker engine: its build stage run in a folder standing in for `/`.

There is no container engine on the test machines, so the build stage's RUN and COPY steps run
on this machine with every absolute path moved under a sandbox folder, and the runtime stage's
COPY, ENV, USER, ENTRYPOINT and CMD say how to start what was built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from tests.conftest import REPOSITORY

DOCKERFILE = REPOSITORY / "Dockerfile"
# Absolute paths the Dockerfile uses (at the start of a word or a value), moved under the sandbox.
IMAGE_PATH = re.compile(r'(?<![^\s=:"])(?=/(?:opt|src|wheels|etc/policy-webhook|tmp)(?:/|\b))')


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages with their instructions (comments dropped)."""
    found: list[Stage] = []
    for item in DockerfileParser(path=str(path)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            found.append(Stage(name=value.split()[-1]))
        elif instruction != "COMMENT" and found:
            found[-1].instructions.append((instruction, value))
    return found


def env_pairs(value: str) -> list[tuple[str, str]]:
    """`ENV A=1 B=2` as pairs (the key=value form, which the Dockerfile uses)."""
    pairs = []
    for word in value.split():
        key, separator, item = word.partition("=")
        assert separator, f"ENV {value!r}: use the key=value form"
        pairs.append((key, item))
    return pairs


def exec_form(value: str) -> list[str]:
    """An ENTRYPOINT or CMD in exec (JSON) form; raises AssertionError for the shell form."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(word, str) for word in parsed), value
    return parsed


@dataclass
class Sandbox:
    """A folder standing in for the image's `/`."""

    root: Path

    def path(self, text: str) -> str:
        """`text` with every absolute image path moved under the sandbox."""
        return IMAGE_PATH.sub(str(self.root), text)

    def copy(self, value: str, workdir: Path) -> None:
        *sources, target = value.split()
        destination = Path(self.path(target)) if target.startswith("/") else workdir / target
        for source in sources:
            origin = REPOSITORY / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    destination,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                )
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / origin.name)

    def build(self, stage: Stage) -> None:
        """Run the build stage's WORKDIR, ENV, COPY and RUN steps; raises AssertionError."""
        tools = self.root / "usr-bin"
        tools.mkdir(exist_ok=True)
        base_python = Path(getattr(sys, "_base_executable", sys.executable))
        (tools / "python").symlink_to(base_python)
        env = {
            "PATH": f"{tools}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),  # pip's cache: reused between runs
        }
        for key in ("PIP_CERT", "PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT", "SSL_CERT_FILE"):
            if key in os.environ:
                env[key] = os.environ[key]
        workdir = self.root
        for instruction, value in stage.instructions:
            if instruction == "WORKDIR":
                workdir = Path(self.path(value))
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction == "ENV":
                env.update(env_pairs(value))
                env.pop("PIP_NO_CACHE_DIR", None)  # keep the cache: the tests run often
            elif instruction == "COPY":
                self.copy(value, workdir)
            elif instruction == "RUN":
                command = self.path(value)
                completed = subprocess.run(
                    ["sh", "-c", command],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                assert completed.returncode == 0, f"RUN {value}\n{completed.stderr[-4000:]}"
            else:
                raise AssertionError(f"build stage: no stand-in for {instruction} {value}")
