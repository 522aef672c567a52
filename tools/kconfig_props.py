#!/usr/bin/env python3
"""Property test of the readers of .config (run by ``make test-fuzz``).

The build reads .config three ways: kconfiglib (menuconfig, olddefconfig,
kconfig_combos.py), tools/kconfig_combos.py (``normalize()``,
``config_values()``) and make (``-include .config``, whose values become
the cargo features, the C ``-D`` flags and the environment of build.rs).
They must never disagree silently. For random .config files (seeded, so a
failure is reproducible with --seed) this checks:

- ``normalize()`` is idempotent, rewrites exactly the "# CONFIG_X is not
  set" lines as "CONFIG_X=n", and leaves every other line as it was;
- ``config_values()`` reads every symbol that kconfiglib reads;
- the real Makefile, run on the file, either stops with an error that
  says what to run, or derives exactly kconfiglib's values: the features
  ``trace``/``pl320``/``pl320-framed``, the ``-DCONFIG_MBOX_TRACE``/
  ``-DCONFIG_MBOX_PL320``/``-DCONFIG_MBOX_PL320_WIRE_FRAMED`` (or
  ``_COMPAT``) flags, and CONFIG_MBOX_DEFAULT_TIMEOUT, CONFIG_MBOX_PL320_MAX_DEVICES
  and CONFIG_HOST_TICK_HZ as exported to build.rs.

Each file is what kconfiglib writes for random values of every symbol,
then edited in ways kconfiglib reads the same: lines reordered, comments,
blank lines, unknown symbols, a symbol set twice (the last one counts),
a disabled option written as "is not set" (normalised, as every make goal
that writes .config does) and, for some, left un-normalised (make must then
refuse the file). Hand edits that kconfiglib reads but make reads
differently (spaces around "=", a trailing comment, CRLF line ends) are
outside this domain: make takes such values as they are.

The last line is "kconfig-props: N passed, M failed" (N cases).
build.rs's own parsing of those environment values (an integer, with its
default when unset or unparsable) is Rust in a build script and is not
exercised here.

  --cases N   number of random files (default 300)
  --seed S    seed (default 1)
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import kconfig_combos  # noqa: E402

PRINTER = """
kconfig-props-print:
\t@echo "features=$(CARGO_FEATURES)"
\t@echo "cdefs=$(CDEFS)"
\t@echo "timeout=$$CONFIG_MBOX_DEFAULT_TIMEOUT"
\t@echo "maxdev=$$CONFIG_MBOX_PL320_MAX_DEVICES"
\t@echo "hz=$$CONFIG_HOST_TICK_HZ"
"""

# The extensions beyond the NuttX C driver's API: Kconfig symbol, feature.
EXTENSIONS = [
    ("MBOX_RR", "rr"),
    ("MBOX_TXDONE_METHODS", "txdone-methods"),
    ("MBOX_TXDONE_CALLBACK", "txdone-callback"),
    ("MBOX_TXFIFO", "txfifo"),
    ("MBOX_MULTI_RX", "multi-rx"),
]
BOOLS = ["MBOX", "MBOX_TRACE", "MBOX_PL320"] + [s for s, _ in EXTENSIONS]
INTS = {
    "MBOX_DEFAULT_TIMEOUT": (1, 2147483647),
    "MBOX_PL320_MAX_DEVICES": (1, 32),
    "HOST_TICK_HZ": (1, 1000000),
}
UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def random_int(rng, lo, hi):
    return rng.choice([lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 100))])


def write_random(kconf, rng, path):
    """kconfiglib's own output for random values, then benign edits.
    Returns whether the file was normalised."""
    for name in BOOLS:
        # MBOX mostly on, so that the options inside it are written.
        on = rng.random() < (0.9 if name == "MBOX" else 0.5)
        assert kconf.syms[name].set_value("y" if on else "n")
    for name, (lo, hi) in INTS.items():
        assert kconf.syms[name].set_value(str(random_int(rng, lo, hi)))
    # The PL320 wire format (a choice): the default, or either side.
    pick = rng.choice([None, "MBOX_PL320_WIRE_FRAMED", "MBOX_PL320_WIRE_COMPAT"])
    if pick is not None:
        assert kconf.syms[pick].set_value("y")
    kconf.write_config(path, header="")
    with open(path) as f:
        lines = f.read().splitlines()
    if rng.random() < 0.5:
        rng.shuffle(lines)
    # A symbol set twice: an older value first, the real one last. Not the
    # members of the wire format choice: kconfiglib takes the last "=y" of
    # a choice and ignores a later "=n", so for them the last line does not
    # count.
    for _ in range(rng.randint(0, 2)):
        assigned = [
            l
            for l in lines
            if (re.match(r"^CONFIG_\w+=", l) or UNSET_RE.match(l)) and "CONFIG_MBOX_PL320_WIRE_" not in l
        ]
        if not assigned:
            break
        real = rng.choice(assigned)
        lines.remove(real)
        name = (UNSET_RE.match(real).group(1) if UNSET_RE.match(real) else real.split("=", 1)[0])[len("CONFIG_"):]
        if name in INTS:
            stale = "CONFIG_%s=%d" % (name, random_int(rng, *INTS[name]))
        else:
            stale = rng.choice(["CONFIG_%s=y" % name, "CONFIG_%s=n" % name, "# CONFIG_%s is not set" % name])
        lines.insert(rng.randint(0, len(lines)), stale)
        lines.append(real)
    extras = ["", "#", "# a comment", "# CONFIG_MBOX_TRACE: statistics", "CONFIG_SOMETHING_ELSE=y", 'CONFIG_BOARD="demo"']
    for _ in range(rng.randint(0, 4)):
        lines.insert(rng.randint(0, len(lines)), rng.choice(extras))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    if rng.random() < 0.9:
        check_normalize(path)
        return True
    return False


def check_normalize(path):
    with open(path) as f:
        before = f.read().splitlines()
    kconfig_combos.normalize(path)
    with open(path) as f:
        after = f.read().splitlines()
    assert len(after) == len(before), "normalize changed the number of lines"
    for b, a in zip(before, after):
        m = UNSET_RE.match(b)
        assert a == ("%s=n" % m.group(1) if m else b), "normalize: %r -> %r" % (b, a)
        assert not UNSET_RE.match(a)
    kconfig_combos.normalize(path)
    with open(path) as f:
        assert f.read().splitlines() == after, "normalize is not idempotent"


def make_view(workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONFIG_", "MAKE", "MFLAGS"))}
    r = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", os.path.join(ROOT, "Makefile"), "-f", "printer.mk",
         "kconfig-props-print"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return None, r.stderr
    return dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l), r.stderr


def check_case(kconf, rng, workdir):
    path = os.path.join(workdir, ".config")
    normalized = write_random(kconf, rng, path)
    with open(path) as f:
        text = f.read()
    kconf.load_config(path)
    sym = {n: kconf.syms[n].str_value for n in BOOLS + list(INTS)}

    # config_values() reads what kconfiglib reads (in a normalised file,
    # the only kind it is given).
    vals = read_values(path) if normalized else {}
    for key, v in vals.items():
        name = key[len("CONFIG_"):]
        if name in sym and kconf.syms[name].visibility:
            assert v == sym[name], "config_values: %s=%r, kconfiglib %r\n%s" % (key, v, sym[name], text)

    view, err = make_view(workdir)
    has_unset = any(
        re.match(r"^# CONFIG_MBOX(_TRACE|_PL320|_PL320_WIRE_FRAMED|_PL320_WIRE_COMPAT|_RR|_TXDONE_METHODS|_TXDONE_CALLBACK|_TXFIFO|_MULTI_RX)? is not set", l)
        for l in text.splitlines()
    )
    if view is None:
        # Refusing is right only for a file make would misread or that
        # disables the whole library, and the error must say what to do.
        assert has_unset or sym["MBOX"] == "n", "make refused a valid .config: %s\n%s" % (err, text)
        assert "menuconfig" in err or "olddefconfig" in err, "make's error names no fix: %s" % err
        return
    assert not has_unset, "make accepted an un-normalised .config:\n%s" % text
    assert sym["MBOX"] == "y", "make accepted CONFIG_MBOX=n"
    feats = view["features"]
    trace, pl320 = sym["MBOX_TRACE"] == "y", sym["MBOX_PL320"] == "y"
    assert ("trace" in feats) == trace, "trace: make %r, kconfiglib %s\n%s" % (feats, trace, text)
    assert ("pl320" in feats) == pl320, "pl320: make %r, kconfiglib %s\n%s" % (feats, pl320, text)
    assert ("-DCONFIG_MBOX_TRACE=1" in view["cdefs"]) == trace, view["cdefs"]
    assert ("-DCONFIG_MBOX_PL320=1" in view["cdefs"]) == pl320, view["cdefs"]
    for name, feat in EXTENSIONS:
        on = sym[name] == "y"
        assert (feat in feats) == on, "%s: make %r, kconfiglib %s\n%s" % (feat, feats, on, text)
        assert ("-DCONFIG_%s=1" % name in view["cdefs"]) == on, view["cdefs"]
    framed = pl320 and kconf.syms["MBOX_PL320_WIRE_FRAMED"].str_value == "y"
    assert ("pl320-framed" in feats) == framed, "wire: make %r, kconfiglib framed=%s\n%s" % (feats, framed, text)
    assert ("-DCONFIG_MBOX_PL320_WIRE_FRAMED=1" in view["cdefs"]) == framed, view["cdefs"]
    assert ("-DCONFIG_MBOX_PL320_WIRE_COMPAT=1" in view["cdefs"]) == (pl320 and not framed), view["cdefs"]
    assert view["timeout"] == sym["MBOX_DEFAULT_TIMEOUT"], "timeout: %r vs %r\n%s" % (view["timeout"], sym["MBOX_DEFAULT_TIMEOUT"], text)
    assert view["hz"] == sym["HOST_TICK_HZ"], "hz: %r vs %r\n%s" % (view["hz"], sym["HOST_TICK_HZ"], text)
    if pl320:
        assert view["maxdev"] == sym["MBOX_PL320_MAX_DEVICES"], "max devices: %r vs %r\n%s" % (
            view["maxdev"], sym["MBOX_PL320_MAX_DEVICES"], text)


def read_values(path):
    """kconfig_combos.config_values() on another file than ROOT/.config."""
    saved = kconfig_combos.CONFIG
    kconfig_combos.CONFIG = path
    try:
        return kconfig_combos.config_values()
    finally:
        kconfig_combos.CONFIG = saved


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    kconfiglib = kconfig_combos.kconfiglib_module()
    kconf = kconfiglib.Kconfig(os.path.join(ROOT, "Kconfig.host"), warn=False)
    rng = random.Random(args.seed)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="kconfig-props-") as workdir:
        with open(os.path.join(workdir, "printer.mk"), "w") as f:
            f.write(PRINTER)
        for i in range(args.cases):
            try:
                check_case(kconf, rng, workdir)
                passed += 1
            except AssertionError as e:
                failed += 1
                if failed <= 3:
                    print("kconfig-props: case %d (seed %d) FAILED: %s" % (i, args.seed, e))
    print("kconfig-props: %d random .config files, seed %d" % (args.cases, args.seed))
    print("kconfig-props: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
