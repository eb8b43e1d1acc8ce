#!/usr/bin/env bash
# Runs every test with Node's built-in runner. Node 20 has no test-file globs,
# so the shell expands them here.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
files=(test/**/*.test.ts)
if [ $# -gt 0 ]; then files=("$@"); fi
npx tsc --noEmit -p tsconfig.json
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
