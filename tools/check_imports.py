#!/usr/bin/env python3
"""Check that the crate's top-level modules import each other without a
cycle: no module reaches, through `crate::` paths, a module that reaches
it back.

A module is src/NAME.rs together with everything under src/NAME/, except
in the folders of GROUPS, whose every file src/GROUP/NAME.rs (with
src/GROUP/NAME/) is a module GROUP::NAME of its own; its edges are the
`crate::OTHER` (`crate::GROUP::OTHER`) paths in its code (comments and string
literals do not count, see count_unsafe.strip), leaving out tests and
their support (files named tests.rs or testing.rs, inline
`#[cfg(test)]` modules).

It prints the edges of each module, then the cycles if any, and the last
line "check-imports: N passed, M failed" (one check per module: it is on
no cycle). Exit status 1 when a cycle exists.

usage: tools/check_imports.py [SRC_DIR]   (default: src)
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from count_unsafe import TEST_FILES, strip, test_module_lines  # noqa: E402


def drop_test_modules(code):
    skip = test_module_lines(code)
    return "\n".join("" if k in skip else line for k, line in enumerate(code.split("\n")))


# Folders that group modules (the core, the C shell); their mod.rs only
# declares them.
GROUPS = ("upper", "shell")


def stem(name):
    return name[:-3] if name.endswith(".rs") else name


def module_of(src, path):
    parts = os.path.relpath(path, src).split(os.sep)
    if parts[0] in GROUPS and len(parts) > 1:
        return None if parts[1] == "mod.rs" else f"{parts[0]}::{stem(parts[1])}"
    return stem(parts[0])


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    edges = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs") or f in TEST_FILES:
                continue
            path = os.path.join(root, f)
            m = module_of(src, path)
            if m in (None, "lib", "main"):
                continue
            with open(path) as fh:
                code = drop_test_modules(strip(fh.read()))
            deps = edges.setdefault(m, set())
            for g, d in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", code):
                d = f"{g}::{d}" if g in GROUPS and d else g
                if d != m and d not in GROUPS:
                    deps.add(d)
            for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
                for d in re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group):
                    if d != m and d != "self":
                        deps.add(d)
    # A module is on a cycle when it reaches itself.
    def reach(a):
        seen, todo = set(), list(edges.get(a, ()))
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(edges.get(x, ()))
        return seen

    bad = []
    for m in sorted(edges):
        print(f"{m:14} -> {', '.join(sorted(edges[m])) or '-'}")
        if m in reach(m):
            back = sorted(d for d in edges[m] if m in reach(d) or d == m)
            bad.append(m)
            print(f"  cycle: {m} imports {', '.join(back)}, which import(s) {m} back")
    print(f"check-imports: {len(edges) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
