#!/usr/bin/env bash
# Runs the whole test suite: bootstraps (installs packages, builds) if needed, then runs
# ctest on a normal build and on an AddressSanitizer + UndefinedBehaviorSanitizer build.
# WF_TEST_SANITIZE=0 skips the sanitizer pass (quicker local runs).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
(cd build && ctest --output-on-failure -j2)

if [ "${WF_TEST_SANITIZE:-1}" = 1 ]; then
  WF_BUILD_DIR=build-asan WF_BUILD_TYPE=Debug WF_SANITIZE=1 scripts/bootstrap.sh
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j2)
fi
