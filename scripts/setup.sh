#!/usr/bin/env bash
# One-command set-up, run by `npm start` and `npm test`: installs what is missing,
# builds what is stale, and is quick when everything is already in place.
#   --test   also install what the test suite needs (tcpdump, tshark, iproute2, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { echo "[setup] $*" >&2; }

# ---- Debian packages -------------------------------------------------------
# libpcap-dev: headers for the capture addon; g++/make/python3: node-gyp.
# clang/llvm/libbpf-dev/bpftool: the kernel tracer (tracer/, eBPF CO-RE + libbpf loader).
packages=(libpcap-dev g++ make python3 pkg-config clang llvm libbpf-dev bpftool)
if [ "$want_test" = 1 ]; then
  # tcpdump/tshark: reference decoders in tests and benches; iproute2: the netns rig.
  packages+=(tcpdump tshark iproute2)
  # MinGW-w64: builds sender/c's Winsock sender (the Wine tests install wine themselves).
  packages+=(gcc-mingw-w64-x86-64)
  # docker-compose (Debian's, v1): validates docker/compose.yml; no Docker engine runs here.
  packages+=(docker-compose)
  # chromium: the web page's browser tests and bench, driven by playwright-core (fixtures/browser.ts).
  packages+=(chromium)
  # curl, libcap2-bin (capsh, setcap): unchanged programs and capability checks in the tracer and container tests.
  packages+=(curl libcap2-bin)
fi
# clickhouse-server/-client (Debian's 18.16): the ClickHouse store's tests start real servers
# (fixtures/clickhouse-server.ts); `npm start` installs them only when ACKSCOPE_STORE asks for
# ClickHouse. The package's own service start is refused in containers (policy-rc.d): harmless.
case "${ACKSCOPE_STORE:-}" in
  clickhouse://*) want_clickhouse=1 ;;
  *) want_clickhouse=$want_test ;;
esac
if [ "$want_clickhouse" = 1 ]; then
  packages+=(clickhouse-server clickhouse-client)
fi
if [ -n "${ACKSCOPE_EXTRA_PACKAGES:-}" ]; then
  # shellcheck disable=SC2206
  packages+=($ACKSCOPE_EXTRA_PACKAGES)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "run as root, or install them first:  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---- npm dependencies ------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
  say "npm ci (better-sqlite3 compiles SQLite on a fresh machine: 1-2 min)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# ---- builds ----------------------------------------------------------------
bash scripts/build.sh
