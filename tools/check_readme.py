#!/usr/bin/env python3
"""Check that the C examples and the make commands of a Markdown file work
(``make check-readme``).

    tools/check_readme.py --cc CC --cflags FLAGS --libs LIBS --out DIR
                          [--make MAKE] FILE.md...

1. Every fenced block opened with ```c is written to DIR/<file>-<line>.c
   (with a #line directive, so that errors point into the Markdown file),
   compiled with ``CC FLAGS -c`` and linked with LIBS: a block without a
   main() gets a generated one that does nothing, so every function the
   block calls must exist in the libraries. A C snippet that is not meant
   to compile must use another fence (```text).
2. With --make: every ``make TARGET`` in the file's code (fenced blocks and
   `inline code`) names a target that ``make help`` lists, and
   ``make help`` itself is among them.

Each check prints "check-readme: ... ok" or "... FAILED" with the reason;
the last line is "check-readme: N passed, M failed". Exit status 1 if
anything failed.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

FENCE_RE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
MAIN_RE = re.compile(r"\bint\s+main\s*\(")
INLINE_CODE_RE = re.compile(r"`([^`\n]+)`")
MAKE_CMD_RE = re.compile(r"(?:^|[\s;&|(])make((?:\s+[^\s;&|)#`]+)*)")


def fenced_blocks(text):
    """[(language, first line number of the code, code)] of a Markdown text."""
    blocks = []
    lang = None
    start = 0
    body = []
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if lang is None:
            if m:
                lang, start, body = m.group(2).lower(), n + 1, []
        elif m and not m.group(2):
            blocks.append((lang, start, "\n".join(body) + "\n"))
            lang = None
        else:
            body.append(line)
    return blocks


def run(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout


def check_c_block(md, line, code, args):
    """Compile and link one ```c block. Returns (ok, message)."""
    stem = "%s-%d" % (os.path.splitext(os.path.basename(md))[0].lower(), line)
    src = os.path.join(args.out, stem + ".c")
    obj = os.path.join(args.out, stem + ".o")
    exe = os.path.join(args.out, stem)
    with open(src, "w") as f:
        f.write('#line %d "%s"\n' % (line, md))
        f.write(code)
    cflags = shlex.split(args.cflags)
    rc, out = run(shlex.split(args.cc) + cflags + ["-c", src, "-o", obj])
    if rc != 0:
        return False, "does not compile:\n" + out
    objs = [obj]
    if not MAIN_RE.search(code):
        stub = os.path.join(args.out, stem + "-main.c")
        with open(stub, "w") as f:
            f.write("/* Generated: the block has no main(). */\nint main(void);\nint main(void)\n{\n  return 0;\n}\n")
        rc, out = run(shlex.split(args.cc) + cflags + ["-c", stub, "-o", stub[:-2] + ".o"])
        if rc != 0:
            return False, "the generated main() does not compile:\n" + out
        objs.append(stub[:-2] + ".o")
    rc, out = run(shlex.split(args.cc) + cflags + ["-o", exe] + objs + shlex.split(args.libs))
    if rc != 0:
        return False, "does not link:\n" + out
    return True, "compiles and links"


def make_targets(make):
    """Targets that `make help` lists."""
    rc, out = run(shlex.split(make) + ["--no-print-directory", "-s", "help"])
    if rc != 0:
        raise RuntimeError("make help failed:\n" + out)
    targets = set()
    for line in out.splitlines():
        m = re.match(r"^  ([\w.-]+)\s", line)
        if m:
            targets.add(m.group(1))
    return targets


def make_commands(text):
    """[(line number, target)] of every `make TARGET` in the code of a
    Markdown text; a plain `make` is the default target."""
    found = []
    in_block = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE_RE.match(line):
            in_block = not in_block
            continue
        pieces = [line.split("#", 1)[0]] if in_block else INLINE_CODE_RE.findall(line)
        for piece in pieces:
            for m in MAKE_CMD_RE.finditer(piece):
                try:
                    words = shlex.split(piece[m.start(1):], comments=True)
                except ValueError:
                    words = m.group(1).split()
                if "-f" in words or "-C" in words:
                    continue  # another makefile
                goals = []
                for w in words:
                    if w in (";", "&&", "||", "|") or w.startswith("#"):
                        break
                    if not w.startswith("-") and "=" not in w:
                        goals.append(w)
                if any(g.startswith("<") for g in goals):
                    continue  # a placeholder: make <stage>
                found.extend((n, g) for g in goals or ["all"])
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cflags", default="")
    ap.add_argument("--libs", default="")
    ap.add_argument("--out", default="build/readme")
    ap.add_argument("--make", help="check the make commands against `MAKE help`")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    os.makedirs(os.path.join(ROOT, args.out), exist_ok=True)

    passed = failed = 0

    def report(ok, what, msg):
        nonlocal passed, failed
        print("check-readme: %s: %s %s" % (what, "ok," if ok else "FAILED:", msg.rstrip()))
        if ok:
            passed += 1
        else:
            failed += 1

    targets = make_targets(args.make) if args.make else None
    for md in args.files:
        with open(os.path.join(ROOT, md)) as f:
            text = f.read()
        blocks = [(line, code) for lang, line, code in fenced_blocks(text) if lang == "c"]
        if not blocks:
            report(False, md, "has no ```c block to check")
        for line, code in blocks:
            ok, msg = check_c_block(md, line, code, args)
            report(ok, "%s:%d C block" % (md, line), msg)
        if targets is not None:
            cmds = make_commands(text)
            unknown = ["line %d: make %s" % (n, t) for n, t in cmds if t not in targets]
            if unknown:
                report(False, "%s make commands" % md, "not targets of make help: " + "; ".join(unknown))
            else:
                report(True, "%s make commands" % md, "%d, all targets of make help" % len(cmds))
            if "help" not in {t for _, t in cmds}:
                report(False, "%s make help" % md, "the file does not mention `make help`")
            else:
                report(True, "%s make help" % md, "mentioned")
    print("check-readme: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
