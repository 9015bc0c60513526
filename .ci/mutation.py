#!/usr/bin/env python3
"""Mutation testing (``tox -e mutation``): mutmut 3 over one module at a time, against the fast
tests that exercise it (no browser, no live servers). Not part of ``.ci/run``: see
docs/testing.md#mutation-testing for the score, the triage of the survivors and the run time.

    python .ci/mutation.py                      # every module in MODULES
    python .ci/mutation.py viewer/web/access    # one module (or package: every module in it)

Each module is run in a scratch copy of the checkout (mutmut writes ``mutants/`` and reads its
settings from ``setup.cfg``; neither is left in the repository). Prints the survivors.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module -> the fast tests that exercise it (what a mutant of it must make fail)
MODULES = {
    "viewer/data/downsample.py": ["tests/test_downsample.py", "tests/test_charts.py"],
    "viewer/web/access": ["tests/test_access.py", "tests/test_access_prefixes.py", "tests/test_access_open_routes.py",
                          "tests/test_access_in_process.py", "tests/test_access_budget.py", "tests/test_access_log.py",
                          "tests/test_capability.py", "tests/test_rebinding.py", "tests/test_bind_token.py"],
    "viewer/live/bus.py": ["tests/test_bus.py", "tests/test_bus_promptness.py"],
    "viewer/data/formats/jsonl.py": ["tests/test_jsonl_line_axis.py", "tests/test_formats.py",
                                     "tests/test_parse_properties.py"],
}
FAST = "not browser"  # -k: no real browser (tests that start a server in a subprocess are not seen by mutmut's stats)


def run_module(module, tests):
    with tempfile.TemporaryDirectory(prefix="tailboard-mutation-") as scratch:
        work = os.path.join(scratch, os.path.basename(REPO))
        shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(".git", ".tox", "mutants", "__pycache__", "bench", "shared"))
        shared = os.path.join(os.path.dirname(REPO), "shared")
        if os.path.isdir(shared):  # the real samples beside the checkout, and beside mutmut's copy
            os.symlink(shared, os.path.join(scratch, "shared"))
            os.symlink(shared, os.path.join(work, "shared"))
        for name in ("pyproject.toml",):  # mutmut would prefer a [tool.mutmut] there
            if os.path.exists(os.path.join(work, name)):
                os.remove(os.path.join(work, name))
        with open(os.path.join(work, "setup.cfg"), "w") as f:
            f.write("[mutmut]\nsource_paths = viewer\n"
                    f"only_mutate = {module if module.endswith('.py') else module + '/*'}\n"
                    "also_copy =\n    app.py\n    gunicorn.conf.py\n    templates\n    static\n    examples\n"
                    "pytest_add_cli_args = -p no:cacheprovider -q -x -k \"" + FAST + "\"\n"
                    "pytest_add_cli_args_test_selection =\n" + "".join(f"    {t}\n" for t in tests))
        t0 = time.monotonic()
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", os.environ.get("MUTATION_JOBS", "2")],
                       cwd=work, env=env, check=False)
        took = time.monotonic() - t0
        out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work, env=env,
                             capture_output=True, text=True).stdout
        counts = {}
        for status in re.findall(r":\s*(\w[\w ]*)$", out, re.M):
            counts[status] = counts.get(status, 0) + 1
        survivors = [line.split(":")[0].strip() for line in out.splitlines() if line.rstrip().endswith(": survived")]
        for name in survivors:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env,
                                  capture_output=True, text=True).stdout
            print(f"--- survived: {name}\n{diff}")
        killed = counts.get("killed", 0)
        total = sum(counts.values())
        print(f"== {module}: {killed}/{total} killed, {counts} in {took:.0f}s", flush=True)
        return counts


def main(argv):
    modules = argv or list(MODULES)
    for m in modules:
        if m not in MODULES:
            sys.exit(f"unknown module {m!r}: add it to MODULES with the tests that exercise it")
        run_module(m, MODULES[m])


if __name__ == "__main__":
    main(sys.argv[1:])
