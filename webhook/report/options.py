"""What every renderer is given besides the report: the policies and the base directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath

from webhook.manifests import STDIN
from webhook.policy.compiled import PolicySet


@dataclass(frozen=True, slots=True)
class RenderOptions:
    policies: PolicySet
    base: Path  # absolute directory that file names are shown relative to (the working dir)
    started: datetime | None = None  # when the check began and ended (UTC), for scan reports
    finished: datetime | None = None

    def relative(self, file: str) -> str | None:
        """`file` relative to `base` (POSIX form), or None when it lies outside or is stdin."""
        if file == STDIN:
            return None
        path = Path(file)
        absolute = os.path.normpath(path if path.is_absolute() else self.base / path)
        try:
            return PurePath(absolute).relative_to(self.base).as_posix()
        except ValueError:
            return None
