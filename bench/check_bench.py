"""Benchmark of `policy-webhook check` against checkov on the same real manifests.

Replicates a set of real manifests (../shared/conformance/manifests when present, else
tests/data/manifests) into a temporary directory until it holds the requested number of
objects, then runs `policy-webhook check` with every shipped policy and `checkov -d DIR
--framework kubernetes` on the same files, alternately, several times each. Prints wall time,
CPU time, objects per second and peak memory (of each child process) as medians, the speed
ratio, and the time per object at several sizes (it should not grow with the number of files).

    python -m bench.check_bench                       # 10,000 objects, 3 runs, with checkov
    python -m bench.check_bench --checkov-runs 0      # policy-webhook only

checkov is installed on first use into bench/.venv-checkov (or pass --checkov PATH); it is
no dependency of this project. It runs with --skip-download so it makes no network calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED = REPOSITORY.parent / "shared" / "conformance" / "manifests"
FALLBACK = REPOSITORY / "tests" / "data" / "manifests"
CHECKOV_VENV = REPOSITORY / "bench" / ".venv-checkov"
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and its children
    peak_kib: int  # peak resident memory of the child (or of its largest descendant)
    objects: int
    finished: bool = True  # False: stopped at the time limit (its figures are lower bounds)


def run_child(
    command: Sequence[str], *, env: dict[str, str] | None = None, limit: float | None = None
) -> tuple[Run, str]:
    """Run `command`, measuring it with wait4 (this child's own resource usage); past `limit`
    seconds it is killed and the run marked unfinished."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.DEVNULL, env=env, start_new_session=True
        )
        finished = True
        while True:
            pid, _, usage = os.wait4(process.pid, os.WNOHANG if limit is not None else 0)
            if pid:
                break
            if limit is not None and time.perf_counter() - start > limit:
                os.killpg(process.pid, 9)  # the child and the workers it started
                finished = False
                _, _, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.2)
        wall = time.perf_counter() - start
        process.returncode = 0  # reaped by wait4 above
        out.seek(0)
        text = out.read().decode() if finished else ""
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall=wall, cpu=cpu, peak_kib=usage.ru_maxrss, objects=0, finished=finished), text


def count_objects(directory: Path) -> int:
    sys.path.insert(0, str(REPOSITORY))
    from webhook.manifests import manifest_files, read_source

    return sum(len(read_source(file).manifests) for file in manifest_files([str(directory)]))


def replicate(source: Path, target: Path, copies: int) -> int:
    """Copy the manifest files of `source` `copies` times under `target`; the number of files."""
    files = [
        path
        for path in sorted(source.rglob("*"))
        if path.is_file()
        and path.suffix in SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(source).parts)
    ]
    for copy in range(copies):
        for path in files:
            destination = target / f"copy-{copy:04d}" / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    return len(files) * copies


def policy_webhook(directory: Path) -> Run:
    command = [
        sys.executable,
        "-m",
        "webhook",
        "check",
        "--policies",
        str(REPOSITORY / "policies"),
        "--output",
        "json",
        str(directory),
    ]
    run, text = run_child(command)
    objects = max(json.loads(text)["summary"]["objects"], 1)
    return Run(run.wall, run.cpu, run.peak_kib, objects)


def checkov(executable: Path, directory: Path, *, limit: float | None, objects: int) -> Run:
    command = [
        str(executable),
        "-d",
        str(directory),
        "--framework",
        "kubernetes",
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--skip-download",
    ]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    run, text = run_child(command, env=env, limit=limit)
    report = json.loads(text) if text.strip() else {}
    reports = report if isinstance(report, list) else [report]
    counted = sum(item.get("summary", {}).get("resource_count", 0) for item in reports)
    # objects/s are counted on policy-webhook's objects: checkov counts resources its own way
    del counted
    return Run(run.wall, run.cpu, run.peak_kib, objects, run.finished)


def checkov_executable(given: str | None) -> Path:
    if given:
        return Path(given)
    executable = CHECKOV_VENV / "bin" / "checkov"
    if not executable.exists():
        print(f"installing checkov into {CHECKOV_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        pip = CHECKOV_VENV / "bin" / "pip"
        subprocess.run([str(pip), "install", "--quiet", "checkov"], check=True)
    return executable


def median(runs: Sequence[Run]) -> Run:
    return Run(
        wall=statistics.median(run.wall for run in runs),
        cpu=statistics.median(run.cpu for run in runs),
        peak_kib=int(statistics.median(run.peak_kib for run in runs)),
        objects=runs[0].objects,
        finished=all(run.finished for run in runs),
    )


def describe(name: str, run: Run, count: int) -> str:
    bound = "" if run.finished else "> "
    objects = max(run.objects, 1)
    text = (
        f"{name:<15} {run.objects:>7} objects  wall {bound}{run.wall:7.2f} s  "
        f"cpu {bound}{run.cpu:7.2f} s  {objects / run.wall:8.0f} objects/s  "
        f"{run.wall / objects * 1e6:7.0f} us/object  peak {run.peak_kib / 1024:6.0f} MiB  "
        f"(median of {count})"
    )
    return text if run.finished else f"{text}  NOT FINISHED: stopped at the time limit"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="objects at the largest size")
    parser.add_argument("--runs", type=int, default=3, help="runs of policy-webhook per size")
    parser.add_argument("--checkov-runs", type=int, default=3, help="0 skips checkov")
    parser.add_argument("--checkov", help="checkov executable (default: bench/.venv-checkov)")
    parser.add_argument(
        "--checkov-limit",
        type=float,
        default=1800.0,
        help="seconds after which a checkov run is stopped (its figures become lower bounds)",
    )
    parser.add_argument("--source", type=Path, help="manifests to replicate")
    parser.add_argument(
        "--sizes", type=int, default=3, help="sizes for the per-object cost (1 to 4)"
    )
    arguments = parser.parse_args(argv)
    source: Path = arguments.source or (SHARED if SHARED.is_dir() else FALLBACK)
    per_copy = count_objects(source)
    copies = math.ceil(arguments.objects / per_copy)
    steps = max(1, min(arguments.sizes, 4))
    sizes = sorted({max(1, copies * step // steps) for step in range(1, steps + 1)})
    print(f"source: {source} ({per_copy} objects per copy); copies: {sizes}", flush=True)
    executable = checkov_executable(arguments.checkov) if arguments.checkov_runs else None
    scaling: list[tuple[int, int, Run]] = []
    with tempfile.TemporaryDirectory(prefix="check-bench-") as temporary:
        empty = Path(temporary) / "empty"
        empty.mkdir()
        empties = [policy_webhook(empty) for _ in range(arguments.runs)]
        startup = statistics.median(run.wall for run in empties)
        startup_cpu = statistics.median(run.cpu for run in empties)
        print(
            "policy-webhook start-up (imports, policies, no manifests): "
            f"{startup:.2f} s wall, {startup_cpu:.2f} s cpu"
        )
        for size in sizes:
            directory = Path(temporary) / f"size-{size}"
            files = replicate(source, directory, size)
            ours: list[Run] = []
            theirs: list[Run] = []
            largest = size == sizes[-1]
            for index in range(max(arguments.runs, arguments.checkov_runs if largest else 0)):
                if index < arguments.runs:
                    ours.append(policy_webhook(directory))
                    print(f"  run {index + 1}: {describe('policy-webhook', ours[-1], 1)}")
                mine_objects = ours[-1].objects
                if largest and executable is not None and index < arguments.checkov_runs:
                    limit = arguments.checkov_limit
                    theirs.append(checkov(executable, directory, limit=limit, objects=mine_objects))
                    print(f"  run {index + 1}: {describe('checkov', theirs[-1], 1)}", flush=True)
            mine = median(ours)
            scaling.append((size, files, mine))
            print(f"\n{files} files ({size} copies):", flush=True)
            print(describe("policy-webhook", mine, len(ours)), flush=True)
            if theirs:
                other = median(theirs)
                bound = "" if all(run.finished for run in theirs) else "more than "
                print(describe("checkov", other, len(theirs)))
                print(
                    f"policy-webhook is {bound}{other.wall / mine.wall:.1f}x faster (wall) and "
                    f"{bound}{other.cpu / mine.cpu:.1f}x cheaper (cpu) than checkov on the same "
                    "files; "
                    f"{other.peak_kib / mine.peak_kib:.1f}x less peak memory"
                )
            shutil.rmtree(directory)
    print("\nper-object cost by size, start-up left out (should stay flat):")
    for _size, files, run in scaling:
        marginal = max(run.wall - startup, 0.0) / run.objects * 1e6
        print(
            f"  {files:>6} files {run.objects:>7} objects: {marginal:6.0f} us wall per object "
            f"({run.wall / run.objects * 1e6:.0f} us with start-up), "
            f"{run.cpu / run.objects * 1e6:.0f} us cpu per object"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
