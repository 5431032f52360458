"""Profile the service under load: `just bench-profile [scenario] [seconds]`.

Seeds the quick benchmark data set, serves `bench.service:app` exactly as `just bench` does
(granian, one worker pinned to CPU 0, production settings), drives one scenario with wrk on
CPU 1, and samples the worker with py-spy meanwhile. Writes a speedscope profile and a flat
top-N table of the hottest functions (own time and with callees) to bench/results/profiles/.
py-spy needs ptrace rights over the worker (root, or kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import run

PROFILES = run.RESULTS / "profiles"


def worker_pid(server_pid: int) -> int:
    """granian's worker is a child of its main process: that is the process serving requests."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True, check=False)
        children = found.stdout.split()
        if children:
            return int(children[-1])
        time.sleep(0.1)
    raise RuntimeError("granian started no worker process")


def hottest(speedscope: Path, top: int) -> str:
    """A flat table of the event-loop thread's samples: each function's share, own and total."""
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    thread = max(data["profiles"], key=lambda profile: sum(profile["weights"]))

    def name(index: int) -> str:
        frame = frames[index]
        return f"{frame['name']} ({'/'.join(Path(frame.get('file', '?')).parts[-2:])})"

    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
        names = [name(index) for index in stack]
        if names:
            own[names[-1]] += weight
        for function in set(names):
            total[function] += weight
    seconds = sum(thread["weights"])
    lines = [f"{thread['name']}: {seconds:.1f} s sampled", "", "own %  | function", "------ | --------"]
    lines += [f"{100 * w / seconds:5.1f}  | {f}" for f, w in own.most_common(top)]
    lines += ["", "total % | function", "------- | --------"]
    lines += [f"{100 * w / seconds:6.1f}  | {f}" for f, w in total.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="?", default="item_apikey")
    parser.add_argument("seconds", nargs="?", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is missing: `apt-get install wrk`", file=sys.stderr)
        return 2
    mode = run.MODES["quick"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    seed = run.prepare_database(mode, workdir)
    run._run("redis-cli", "-u", run.REDIS_URL, "FLUSHDB")
    server = run.Server("service", "bench.service:app", run.server_env(workdir), workdir / "service.log")
    with server.running():
        plan = {s.name: s for s in run.scenarios(seed, mode, run.login(seed))}
        if args.scenario not in plan or plan[args.scenario].server != "service":
            names = ", ".join(name for name, s in plan.items() if s.server == "service")
            print(f"unknown scenario {args.scenario!r}; one of: {names}", file=sys.stderr)
            return 2
        scenario = plan[args.scenario]
        assert server.process is not None
        pid = worker_pid(server.process.pid)
        run.wrk(scenario, 2, mode.connections)  # warm-up
        PROFILES.mkdir(parents=True, exist_ok=True)
        out = PROFILES / f"{scenario.name}.speedscope.json"
        spy = subprocess.Popen(
            [
                *("py-spy", "record", "--pid", str(pid), "--duration", str(args.seconds)),
                *("--rate", "250", "--format", "speedscope", "--output", str(out), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
        )
        result = run.wrk(scenario, args.seconds, mode.connections)
        spy.wait()
    table = hottest(out, args.top)
    (PROFILES / f"{scenario.name}.txt").write_text(table + "\n")
    print(f"{scenario.name}: {result['rps']:.0f} req/s while sampled (py-spy slows the worker)")
    print(table)
    print(f"\nspeedscope profile: {out} (open in https://www.speedscope.app)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
