#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Shell functions shared by tools/nuttx_run.sh and tools/nuttx_sidebyside.sh
# (sourced, never run).

# True when .config lacks one of the settings of a kconfig-tweak argument
# list (--enable SYM / --disable SYM pairs). Only then are kconfig-tweak
# and olddefconfig run: NuttX's olddefconfig deletes
# include/nuttx/config.h, which rebuilds the whole tree.
config_wants() {
  while [ $# -ge 2 ]; do
    case $1 in
      --enable) grep -q "^CONFIG_$2=y\$" .config || return 0 ;;
      --disable) ! grep -q "^CONFIG_$2=[ym]\$" .config || return 0 ;;
    esac
    shift 2
  done
  return 1
}
