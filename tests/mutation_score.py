"""The score of the last ``make mutate``: killed mutants per module, per group the issue sets a target for, in total.

Reads mutmut's per-file results (``mutants/<path>.meta``); mutants not run (``make mutate MUTANTS=...``
runs a part) are counted apart, not in the scores. A mutant is killed when a test failed under it,
or timed out (the tests hung: caught, though slowly); "no tests", survived, segfault and the rest count as
not killed. Every survivor must be listed in tests/equivalent_mutants.md with the reason: the exit status is 1
while any is not. As in the textbook definition (killed / non-equivalent mutants), survivors listed under its
"Equivalent" heading, which behave exactly like the program, are left out of the totals, and each line says
how many; survivors listed under its other headings stay in as not killed. The last line is the total score.
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3}  # a test failed; pytest's internal error
TIMEOUT = {24, -24, 152, 255, 36}  # SIGXCPU and mutmut's own timeout code
GROUPS = {"store/": lambda path: path.startswith("store/"),
          "mlp/metrics.py + mlp/optimizers.py": lambda path: path in ("mlp/metrics.py", "mlp/optimizers.py")}


def results(mutants_dir):
    """{source path: {mutant name: exit code}} from every .meta file mutmut wrote."""
    found = {}
    for meta in sorted(Path(mutants_dir).rglob("*.py.meta")):
        path = str(meta.relative_to(mutants_dir))[: -len(".meta")]
        found[path] = json.loads(meta.read_text())["exit_code_by_key"]
    return found


def listed_survivors(notes):
    """(every mutant name in the notes, those under its "Equivalent" heading); names are
    ``module.x_function__mutmut_N``."""
    if not notes.exists():
        return set(), set()
    text = notes.read_text()
    names = re.compile(r"[\w.ǁ]+__mutmut_\d+")
    equivalent = set()
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        if section.startswith("Equivalent"):
            equivalent |= set(names.findall(section))
    return set(names.findall(text)), equivalent


def score_line(killed, total, equivalent=0):
    line = f"mutation score: {killed}/{total} killed ({100 * killed / max(total, 1):.1f}%)"
    return line + (f", {equivalent} equivalent left out" if equivalent else "")


def main(mutants_dir=ROOT / "mutants", notes=ROOT / "tests" / "equivalent_mutants.md"):
    by_path = results(mutants_dir)
    if not by_path:
        print(f"no mutmut results under {mutants_dir}: run `make mutate`", file=sys.stderr)
        return 2
    listed, equivalent = listed_survivors(notes)
    killed, total, left_out, unlisted, not_run = Counter(), Counter(), Counter(), [], Counter()
    for path, codes in by_path.items():
        for name, code in codes.items():
            if code is None:  # outside MUTANTS=..., or an interrupted run
                not_run[path] += 1
            elif code in KILLED or code in TIMEOUT:
                killed[path] += 1
                total[path] += 1
            elif name in equivalent:
                left_out[path] += 1
            else:
                total[path] += 1
                if name not in listed:
                    unlisted.append(name)
    for path in sorted(total | left_out | not_run):
        print(f"{path:28} {score_line(killed[path], total[path], left_out[path])}"
              + (f"; {not_run[path]} not run" if not_run[path] else ""))
    for group, member in GROUPS.items():
        paths = [p for p in total | left_out if member(p)]
        print(f"{group:28} {score_line(*(sum(c[p] for p in paths) for c in (killed, total, left_out)))}")
    for name in sorted(unlisted):
        print(f"not killed and not listed in {notes.name}: {name}")
    if not_run:
        print(f"{sum(not_run.values())} mutants not run: the scores count the "
              f"{sum(total.values()) + sum(left_out.values())} that were")
    print(score_line(sum(killed.values()), sum(total.values()), sum(left_out.values())))
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
