#!/usr/bin/env python3
"""Check that the crate's top-level modules import each other without a
cycle: no module reaches, through `crate::` paths, a module that reaches
it back.

A module is src/NAME.rs together with everything under src/NAME/; its
edges are the `crate::OTHER` paths in its code (comments and string
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


def module_of(src, path):
    rel = os.path.relpath(path, src)
    top = rel.split(os.sep)[0]
    return top[:-3] if top.endswith(".rs") else top


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    edges = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs") or f in TEST_FILES:
                continue
            path = os.path.join(root, f)
            m = module_of(src, path)
            if m in ("lib", "main"):
                continue
            with open(path) as fh:
                code = drop_test_modules(strip(fh.read()))
            deps = edges.setdefault(m, set())
            for d in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code):
                if d != m:
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
        print(f"{m:8} -> {', '.join(sorted(edges[m])) or '-'}")
        if m in reach(m):
            back = sorted(d for d in edges[m] if m in reach(d) or d == m)
            bad.append(m)
            print(f"  cycle: {m} imports {', '.join(back)}, which import(s) {m} back")
    print(f"check-imports: {len(edges) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
