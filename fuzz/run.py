"""Run one fuzz target with atheris for a bounded time: `python -m fuzz.run TARGET SECONDS`.

The corpus grows in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET); a crash, an input
slower than 10 s or one that takes over 2 GiB stops the run and is written to fuzz/crashes/.
Copy it to tests/data/fuzz-regressions/TARGET/ so `make test` replays it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent


def main() -> None:
    name, seconds = sys.argv[1], int(sys.argv[2])
    with atheris.instrument_imports(include=["webhook"]):
        from fuzz.targets import TARGETS
    corpus = HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in sorted((HERE / "seeds" / name).glob("*")):
        shutil.copy(seed, corpus / seed.name)
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    arguments = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-max_len=65536",
        f"-artifact_prefix={crashes}/{name}-",
        "-print_final_stats=1",
    ]
    atheris.Setup(arguments, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
