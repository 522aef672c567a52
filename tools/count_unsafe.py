#!/usr/bin/env python3
"""Count the `unsafe` blocks of the product's Rust code and keep the safe
modules safe.

Product code is every src/**/*.rs except the tests and their support
(files named tests.rs or testing.rs, and inline `#[cfg(test)]` modules).
For each file it prints the number of `unsafe { .. }` blocks (and of
`unsafe fn`, `unsafe impl` and `unsafe extern` items), then the totals.

It fails (exit status 1) when
  - a module listed in CORE_SAFE below contains `unsafe` at all, or lacks
    the inner attribute `#![deny(unsafe_code)]` (so that the compiler
    enforces it too);
  - an `unsafe` block has no `// SAFETY:` comment in the comment lines
    right above the line it starts on (or on that line);
  - the product holds more than BUDGET `unsafe` blocks in total.

The last line is "check-unsafe: N passed, M failed" (one check per file).

usage: tools/count_unsafe.py [SRC_DIR]   (default: src)
"""

import os
import re
import sys

# Modules without a single unsafe block: the channel state machine, its
# blocking glue, the ring, the PL320 wire format, the errno values and the
# PL320 board ABI structs. Each carries #![deny(unsafe_code)]. (The state
# machine's pointer work is in src/upper/waiters.rs and src/upper/lent.rs.)
CORE_SAFE = [
    "src/upper/chan.rs",
    "src/upper/errno.rs",
    "src/upper/glue.rs",
    "src/pl320/abi.rs",
    "src/pl320/wire.rs",
    "src/upper/queue.rs",
]

# The most `unsafe` blocks the product may hold (it holds 53): a new one
# must replace another, or argue for raising this.
BUDGET = 60

TEST_FILES = ("tests.rs", "testing.rs")
DENY = "#![deny(unsafe_code)]"


def strip(text):
    """The text with comments, string and char literals blanked out
    (newlines kept, so line numbers stay)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif re.match(r'(b?r)(#*)"', text[i:i + 40]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(b?r)(#*)"', text[i:])
            close = '"' + m.group(2)
            j = text.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_module_lines(code):
    """Line numbers (0-based) inside inline #[cfg(test)] modules."""
    skip = set()
    lines = code.split("\n")
    for k, line in enumerate(lines):
        if not re.match(r"\s*#\[cfg\(test\)\]\s*$", line):
            continue
        # The item after the attribute: a `mod name {` block.
        j = k + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or not re.match(r"\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", lines[j]):
            continue
        depth, m = 0, j
        while m < len(lines):
            depth += lines[m].count("{") - lines[m].count("}")
            skip.add(m)
            if depth <= 0:
                break
            m += 1
        skip.add(k)
    return skip


def scan(path):
    text = open(path, encoding="utf-8").read()
    raw = text.split("\n")
    code = strip(text)
    lines = code.split("\n")
    skip = test_module_lines(code)
    blocks, items, missing = 0, 0, []
    any_unsafe = False
    for k, line in enumerate(lines):
        if k in skip:
            continue
        for m in re.finditer(r"\bunsafe\b", line):
            any_unsafe = True
            rest = line[m.end():].lstrip()
            if rest.startswith("{") or (not rest and k + 1 < len(lines) and lines[k + 1].lstrip().startswith("{")):
                blocks += 1
                if not has_safety_comment(raw, k):
                    missing.append(k + 1)
            else:
                items += 1
    return blocks, items, missing, any_unsafe, DENY in text


def has_safety_comment(raw, k):
    if "SAFETY:" in raw[k]:
        return True
    j = k - 1
    while j >= 0 and raw[j].lstrip().startswith("//"):
        if "SAFETY:" in raw[j]:
            return True
        j -= 1
    return False


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    root = os.path.dirname(os.path.abspath(src.rstrip("/")))
    files = []
    for d, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs") and name not in TEST_FILES:
                files.append(os.path.relpath(os.path.join(d, name), root))
    files.sort()
    passed = failed = 0
    total_blocks = total_items = 0
    print("%-24s %7s %6s" % ("file", "blocks", "items"))
    for f in files:
        blocks, items, missing, any_unsafe, denied = scan(os.path.join(root, f))
        total_blocks += blocks
        total_items += items
        problems = []
        if f in CORE_SAFE:
            if any_unsafe:
                problems.append("is listed as core-safe but contains unsafe")
            if not denied:
                problems.append("is listed as core-safe but lacks %s" % DENY)
        if missing:
            problems.append("unsafe block without a // SAFETY: comment right above it, line(s) %s"
                            % ", ".join(map(str, missing)))
        mark = " (core-safe)" if f in CORE_SAFE else ""
        print("%-24s %7d %6d%s" % (f, blocks, items, mark))
        for p in problems:
            print("  FAIL: %s %s" % (f, p))
        if problems:
            failed += 1
        else:
            passed += 1
    for f in CORE_SAFE:
        if f not in files:
            print("  FAIL: %s is listed as core-safe but does not exist" % f)
            failed += 1
    print("%-24s %7d %6d" % ("total", total_blocks, total_items))
    if total_blocks > BUDGET:
        print("  FAIL: %d unsafe blocks in total, more than the budget of %d" % (total_blocks, BUDGET))
        failed += 1
    else:
        print("  ok: %d unsafe blocks in total, within the budget of %d" % (total_blocks, BUDGET))
        passed += 1
    print("check-unsafe: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
