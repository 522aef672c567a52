#!/usr/bin/env python3
"""Check that docs/mbox.rst mentions every public symbol of the C headers.

Symbols are taken from include/nuttx/mbox/mbox.h and pl320.h (comments
removed, preprocessor conditionals ignored so that every configuration
counts): functions, macros (include guards excepted), struct and enum tags,
enum constants, typedefs, and the entries of struct mbox_ops_s (the lower
half's contract). A symbol counts as documented when it appears in the .rst
as a whole word.

  tools/check_docs.py            check; list what is missing, exit 1 if any
  tools/check_docs.py --list     print every symbol with its kind
"""

import argparse
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HEADERS = ["include/nuttx/mbox/mbox.h", "include/nuttx/mbox/pl320.h"]
DOC = "docs/mbox.rst"

# Structures whose members are part of the documented contract.
MEMBER_STRUCTS = {"mbox_ops_s"}

C_KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "defined"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def join_continuations(text):
    return re.sub(r"\\\n", " ", text)


def symbols_of(text):
    """[(kind, name)] of one header's public symbols, in order."""
    out = []
    text = join_continuations(strip_comments(text))

    # Macros. Include guards are the #ifndef X / #define X pairs.
    guards = set(re.findall(r"^\s*#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+\1\b", text, flags=re.M))
    for name in re.findall(r"^\s*#\s*define\s+(\w+)", text, flags=re.M):
        if name not in guards:
            out.append(("macro", name))

    # The C part, without preprocessor lines and extern "C" wrappers.
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    code = re.sub(r'extern\s+"C"\s*\{', "", code)

    # Walk top-level declarations, tracking braces.
    depth = 0
    start = 0
    stmts = []
    for i, ch in enumerate(code):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:  # the closing brace of extern "C"
                depth = 0
                start = i + 1
        elif ch == ";" and depth == 0:
            stmts.append(code[start : i + 1])
            start = i + 1

    for stmt in stmts:
        s = " ".join(stmt.split())
        body = None
        m = re.match(r"^(typedef\s+)?(struct|enum|union)\s+(\w+)\s*\{(.*)\}\s*(\w*)\s*;$", s)
        if m:
            kind, tag, body, alias = m.group(2), m.group(3), m.group(4), m.group(5)
            out.append((kind, tag))
            if alias:
                out.append(("typedef", alias))
            if kind == "enum":
                for item in body.split(","):
                    em = re.match(r"\s*(\w+)", item)
                    if em:
                        out.append(("enum value", em.group(1)))
            elif tag in MEMBER_STRUCTS:
                for fm in re.finditer(r"\(\s*\*\s*(\w+)\s*\)\s*\(|(\w+)\s*(?:\[[^\]]*\])?\s*;", body):
                    out.append(("%s member" % tag, fm.group(1) or fm.group(2)))
            continue
        if s.startswith("typedef"):
            fm = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", s)
            name = fm.group(1) if fm else re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*;$", s).group(1)
            out.append(("typedef", name))
            continue
        fm = re.search(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:__attribute__\s*\(\(.*\)\)\s*)?;$", s)
        if fm and fm.group(1) not in C_KEYWORDS and not re.search(r"\(\s*\*", s.split(fm.group(1))[0]):
            out.append(("function", fm.group(1)))
            continue
        sm = re.match(r"^(struct|enum|union)\s+(\w+)\s*;$", s)
        if sm:
            continue  # forward declaration; the definition (if any) counts
        vm = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*;$", s)
        if vm and s.startswith("extern"):
            out.append(("variable", vm.group(1)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the symbols and exit")
    ap.add_argument("--doc", default=DOC)
    args = ap.parse_args()

    syms = []
    for h in HEADERS:
        with open(os.path.join(ROOT, h)) as f:
            for kind, name in symbols_of(f.read()):
                if (kind, name, h) not in syms:
                    syms.append((kind, name, h))

    if args.list:
        for kind, name, h in syms:
            print("%-22s %-32s %s" % (kind, name, os.path.basename(h)))
        return 0

    with open(os.path.join(ROOT, args.doc)) as f:
        doc = f.read()
    words = set(re.findall(r"\w+", doc))
    missing = [(k, n, h) for k, n, h in syms if n not in words]
    seen = set()
    for k, n, h in missing:
        if n not in seen:
            print("check_docs: %s: %s %s is not documented" % (args.doc, k, n), file=sys.stderr)
            seen.add(n)
    print(
        "check_docs: %d public symbols in %s, %d missing from %s"
        % (len({n for _, n, _ in syms}), " and ".join(os.path.basename(h) for h in HEADERS), len(seen), args.doc)
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
