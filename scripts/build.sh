#!/usr/bin/env bash
# Builds what is older than its sources: the capture addon, the C senders, the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[build] $*" >&2; }

newer_than() { # newer_than TARGET SRC... : true when a source is newer than TARGET (or TARGET missing)
  local target=$1; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -type f 2>/dev/null | head -1)" ]
}

if [ -f capture/native/binding.gyp ]; then
  addon=capture/native/build/Release/ackscope_native.node
  if newer_than "$addon" capture/native/binding.gyp capture/native/src; then
    say "native addon (node-gyp)"
    # node-gyp downloads Node's headers unless told where they are. Node's own
    # installation ships them (<prefix>/include/node), so use those: works offline.
    node_prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
    if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_api.h" ]; then
      export npm_config_nodedir=$node_prefix
    fi
    npm run --silent build:native >/dev/null
  fi
fi

# The SQLite extensions (db/native/*.c), each built against the sqlite3ext.h of the SQLite
# that better-sqlite3 links: packed_completions (the ingest worker hands packed batches to
# it; without it ingest binds rows) and packed_columns (f64_pack: the correlation reads its
# runs as BLOBs of doubles; without it the same runs as JSON text, same answers, about
# twice the CPU at 10 M frames).
sqlite_headers=node_modules/better-sqlite3/deps/sqlite3
if [ -f "$sqlite_headers/sqlite3ext.h" ]; then
  for src in db/native/*.c; do
    [ -f "$src" ] || continue
    ext=db/native/build/$(basename "$src" .c).so
    if newer_than "$ext" "$src"; then
      say "SQLite extension $(basename "$src" .c) (cc)"
      mkdir -p db/native/build
      cc -O2 -fPIC -shared -Wall -Wextra -Wno-unused-parameter -I "$sqlite_headers" -o "$ext" "$src" -lm
    fi
  done
fi

if [ -f sender/c/Makefile ] && [ "${ACKSCOPE_BUILD_C:-1}" = 1 ]; then
  make -s -C sender/c posix
  # the Winsock sender when the MinGW-w64 cross compiler is there (setup.sh --test installs it)
  if command -v x86_64-w64-mingw32-gcc >/dev/null; then make -s -C sender/c winsock; fi
fi

# The kernel tracer (tracer/): eBPF CO-RE object + libbpf loader. Needs the running kernel's
# BTF (vmlinux.h is generated from it); without BTF the tracer reports so at run time.
if [ -f tracer/Makefile ] && [ "${ACKSCOPE_BUILD_TRACER:-1}" = 1 ]; then
  if [ ! -r "${ACKSCOPE_TRACER_BTF:-/sys/kernel/btf/vmlinux}" ]; then
    say "tracer skipped: this kernel has no BTF (/sys/kernel/btf/vmlinux); ackscope trace will say so"
  elif ! command -v clang >/dev/null || ! command -v bpftool >/dev/null; then
    say "tracer skipped: clang or bpftool missing (scripts/setup.sh installs them)"
  elif newer_than tracer/build/ackscope-tracer tracer/Makefile tracer/bpf tracer/src; then
    say "kernel tracer (clang -target bpf, bpftool gen skeleton)"
    make -s -C tracer
  fi
fi

# The web page (service/web/src, and the core/ facts it imports) as one browser bundle, ECharts included: no CDN at run time.
if newer_than dist/web/main.js service/web/src core package-lock.json; then
  say "web page (esbuild)"
  npx esbuild service/web/src/main.ts --bundle --minify --sourcemap --format=esm --target=es2020 \
    --outdir=dist/web --log-level=warning
fi

stamp=dist/.build-stamp
if newer_than "$stamp" core service capture db recording analysis sender cli experiment correlate tsconfig.json tsconfig.build.json package.json; then
  say "TypeScript"
  npx tsc -p tsconfig.build.json
  # SQL migrations and static assets are read at run time next to the code.
  mkdir -p dist && touch "$stamp"
fi
