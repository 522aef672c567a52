#!/usr/bin/env python3
"""Bad configuration values stop the build with a clear error; good ones
build (``make check-kconfig-values``).

The symbols, their types, defaults and ranges are read from Kconfig.host
and the Kconfig it sources (every int must have a ``range``); the
Makefile's fallback defaults must be Kconfig's. Then:

1. The Makefile, in a scratch directory that links to the sources (so the
   repository's .config and build/ are never touched): ``make -n lib`` with
   each bad value given three ways (in .config, on the command line, in
   the environment) must fail with a message that names the symbol and
   what it allows ("y or n", or "from MIN to MAX"); a .config with
   kconfiglib's "# CONFIG_X is not set" must fail too. The ints at MIN and
   at MAX, and each bool at y and n, must pass, and the host port must
   compile (``make build/host/host_port.o``) with CONFIG_HOST_TICK_HZ at
   its MIN and its MAX.
2. build.rs, through ``cargo check --lib --features host-port`` in the
   repository (sharing target/): each bad value of each int it reads must
   fail with the symbol's name and range; no value (the defaults), all at
   MIN, all at MAX, and last the Makefile's defaults must build.

Prints one line per failed case and ends with
"check-kconfig-values: N passed, M failed"; exit status 1 if any failed.

  --no-cargo    only the Makefile part (a few seconds)
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# The ints that build.rs reads (the host tick only with host-port, which
# the check uses).
BUILD_RS_INTS = ["CONFIG_MBOX_DEFAULT_TIMEOUT", "CONFIG_MBOX_PL320_MAX_DEVICES", "CONFIG_HOST_TICK_HZ"]

TOP_KEYWORDS = ("config", "menuconfig", "menu", "endmenu", "if", "endif", "choice", "endchoice", "comment", "source", "mainmenu")


def read_kconfig(path):
    """{CONFIG_NAME: {"type", "default", "range"}} of the Kconfig file."""
    syms = {}
    cur = None
    in_help = False
    # A choice's "default" names the member that is y; the others are n.
    choice = None
    with open(path) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            word = line.split()[0]
            if word in ("source", "rsource") and not line[0].isspace():
                # Kconfig.host sources the shared Kconfig (beside it).
                syms.update(read_kconfig(os.path.join(os.path.dirname(path), line.split()[1].strip('"'))))
                continue
            if not line[0].isspace() and word in TOP_KEYWORDS:
                in_help = False
                cur = None
                if word == "choice":
                    choice = {"type": "choice", "default": None, "range": None, "members": []}
                    cur = choice
                elif word == "endchoice" and choice is not None:
                    for m in choice["members"]:
                        syms[m]["default"] = "y" if m == "CONFIG_%s" % choice["default"] else "n"
                    choice = None
                if word in ("config", "menuconfig"):
                    cur = {"type": None, "default": None, "range": None}
                    syms["CONFIG_" + line.split()[1]] = cur
                    if choice is not None:
                        choice["members"].append("CONFIG_" + line.split()[1])
                continue
            if in_help or cur is None:
                continue
            if word in ("help", "---help---"):
                in_help = True
            elif word in ("bool", "int", "hex", "string", "tristate"):
                cur["type"] = word
            elif word == "default" and cur["default"] is None:
                cur["default"] = line.split()[1]
            elif word == "range":
                lo, hi = line.split()[1:3]
                cur["range"] = (int(lo), int(hi))
    return syms


def bad_values(sym):
    if sym["type"] == "bool":
        return ["maybe", "", "Y", "1", "y n"]
    lo, hi = sym["range"]
    return ["abc", "", str(lo - 1), str(hi + 1), "-1", "0x10", "0%d" % lo, "%d %d" % (lo, lo), "9" * 25]


def expected_words(sym):
    if sym["type"] == "bool":
        return ["y or n"]
    return ["from %d to %d" % sym["range"]]


def clean_env():
    """The environment without configuration values or a parent make's
    flags (command-line variables travel in MAKEFLAGS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_")}
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def expect(self, ok, what, out=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("check-kconfig-values: FAILED: %s" % what)
            for line in out.strip().splitlines()[-6:]:
                print("    " + line)
        sys.stdout.flush()


def scratch_tree():
    """A directory whose entries link to the repository's, minus .config,
    build/ and target/."""
    tmp = tempfile.mkdtemp(prefix="mbox-kconfig-")
    for name in os.listdir(ROOT):
        if name in (".config", ".config.old", "build", "target", ".git"):
            continue
        os.symlink(os.path.join(ROOT, name), os.path.join(tmp, name))
    return tmp


def check_makefile(make, syms, checks):
    tmp = scratch_tree()
    try:
        # The host build's configuration: the Kconfig defaults with
        # host.defconfig's selection (CONFIG_MBOX=n builds nothing).
        defaults = dict({n: s["default"] for n, s in syms.items()}, **host_defconfig())

        def write_config(values):
            with open(os.path.join(tmp, ".config"), "w") as f:
                for name, val in values.items():
                    if val is None:
                        continue
                    f.write(val if val.startswith("#") else "%s=%s" % (name, val))
                    f.write("\n")

        def run_make(goal, args=(), env_extra=None):
            env = clean_env()
            env.update(env_extra or {})
            proc = subprocess.run(
                shlex.split(make) + ["--no-print-directory", "-n", goal] + list(args),
                cwd=tmp,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            return proc.returncode, proc.stdout

        def remove_config():
            try:
                os.remove(os.path.join(tmp, ".config"))
            except FileNotFoundError:
                pass

        for name, sym in syms.items():
            for val in bad_values(sym):
                words = [name] + expected_words(sym)
                # In .config, on the command line, in the environment.
                write_config(dict(defaults, **{name: val}))
                rc, out = run_make("lib")
                checks.expect(rc != 0 and all(w in out for w in words), "make: %s=%r in .config is refused naming %s" % (name, val, words), out)
                remove_config()
                rc, out = run_make("lib", ["%s=%s" % (name, val)])
                checks.expect(rc != 0 and all(w in out for w in words), "make: %s=%r on the command line is refused naming %s" % (name, val, words), out)
                rc, out = run_make("lib", env_extra={name: val})
                checks.expect(rc != 0 and all(w in out for w in words), "make: %s=%r in the environment is refused naming %s" % (name, val, words), out)

            if sym["type"] == "bool":
                goods = ["y"] if name == "CONFIG_MBOX" else ["y", "n"]
                # kconfiglib's form of n, which make reads as a comment.
                if name != "CONFIG_MBOX":
                    write_config(dict(defaults, **{name: "# %s is not set" % name}))
                    rc, out = run_make("lib")
                    checks.expect(rc != 0 and name in out and "olddefconfig" in out, "make: '# %s is not set' in .config is refused" % name, out)
            else:
                goods = [str(sym["range"][0]), str(sym["range"][1])]
            for val in goods:
                write_config(dict(defaults, **{name: val}))
                rc, out = run_make("lib")
                checks.expect(rc == 0, "make: %s=%s in .config is accepted" % (name, val), out)
                remove_config()
                rc, out = run_make("lib", ["%s=%s" % (name, val)])
                checks.expect(rc == 0, "make: %s=%s on the command line is accepted" % (name, val), out)

        # CONFIG_MBOX=n is a valid Kconfig value that leaves nothing to build.
        rc, out = run_make("lib", ["CONFIG_MBOX=n"])
        checks.expect(rc != 0 and "CONFIG_MBOX=n" in out, "make: CONFIG_MBOX=n is refused (nothing to build)", out)

        # The host port compiles (-Werror) at both ends of the tick range.
        hz = syms["CONFIG_HOST_TICK_HZ"]["range"]
        for val in hz:
            env = clean_env()
            proc = subprocess.run(
                shlex.split(make) + ["--no-print-directory", "-s", "BUILD=build/hz-%d" % val, "build/hz-%d/host/host_port.o" % val, "CONFIG_HOST_TICK_HZ=%d" % val],
                cwd=tmp,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            checks.expect(proc.returncode == 0, "make: the host port compiles with CONFIG_HOST_TICK_HZ=%d" % val, proc.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_build_rs(cargo, syms, make_defaults, checks):
    def run_cargo(values):
        env = clean_env()
        env["RUST_BACKTRACE"] = "0"
        env.update({k: v for k, v in values.items() if v is not None})
        proc = subprocess.run(
            shlex.split(cargo) + ["check", "-q", "--lib", "--features", "host-port"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return proc.returncode, proc.stdout

    for name in BUILD_RS_INTS:
        sym = syms[name]
        for val in ["abc", "", str(sym["range"][0] - 1), str(sym["range"][1] + 1), "0%d" % sym["range"][0]]:
            rc, out = run_cargo({name: val})
            words = [name] + expected_words(sym)
            checks.expect(rc != 0 and all(w in out for w in words), "build.rs: %s=%r is refused naming %s" % (name, val, words), out)

    lows = {n: str(syms[n]["range"][0]) for n in BUILD_RS_INTS}
    highs = {n: str(syms[n]["range"][1]) for n in BUILD_RS_INTS}
    exported = {n: make_defaults[n] for n in BUILD_RS_INTS if n in make_defaults}
    for what, values in (("no values (the defaults)", {}), ("every int at its minimum", lows), ("every int at its maximum", highs), ("the Makefile's defaults", exported)):
        rc, out = run_cargo(values)
        checks.expect(rc == 0, "build.rs: %s builds (%s)" % (what, values), out)


def host_defconfig():
    """{CONFIG_NAME: value} of host.defconfig (the host build's selection)."""
    vals = {}
    with open(os.path.join(ROOT, "host.defconfig")) as f:
        for line in f:
            m = re.match(r"^(CONFIG_\w+)=(\S*)$", line.strip())
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def makefile_defaults():
    """The CONFIG_X ?= defaults of the Makefile (what it exports to cargo)."""
    vals = {}
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            m = re.match(r"^(CONFIG_\w+)\s*\?=\s*(\S+)", line)
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make", default="make")
    ap.add_argument("--cargo", default="cargo")
    ap.add_argument("--no-cargo", action="store_true")
    args = ap.parse_args()

    checks = Checks()
    syms = read_kconfig(os.path.join(ROOT, "Kconfig.host"))
    for name, sym in syms.items():
        checks.expect(sym["type"] in ("bool", "int"), "Kconfig: %s is a bool or an int (the build reads no other type)" % name)
        if sym["type"] == "int":
            checks.expect(sym["range"] is not None, "Kconfig: int %s has a range" % name)
    syms = {n: s for n, s in syms.items() if s["type"] == "bool" or (s["type"] == "int" and s["range"])}
    for name in BUILD_RS_INTS:
        checks.expect(name in syms, "Kconfig: %s is an int with a range" % name)
    mdef = makefile_defaults()
    for name, sym in syms.items():
        checks.expect(mdef.get(name, sym["default"]) == sym["default"], "Makefile: the default of %s is Kconfig's (%s)" % (name, sym["default"]))

    check_makefile(args.make, syms, checks)
    if not args.no_cargo:
        check_build_rs(args.cargo, syms, mdef, checks)

    print("check-kconfig-values: %d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
