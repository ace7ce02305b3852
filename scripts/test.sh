#!/usr/bin/env bash
# `npm test`: every check CI runs, in order of cost: types, lint, generated-file drift, then the
# unit and integration suites (integration tests start real registries and control planes on
# loopback, building the Go tools on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx eslint .
echo "== format"; npx prettier --check . >/dev/null || { npx prettier --list-different .; echo "format: run npm run format" >&2; exit 1; }
for script in $(git ls-files "*.sh" .ci/run); do bash -n "$script"; done
npx dockerfilelint Dockerfile >/dev/null || npx dockerfilelint Dockerfile
echo "== generated files"; bash scripts/check-crds.sh
# Tests call kubectl from PATH: put the one build-tools.sh builds (the cluster's version) first,
# so a machine needs no kubectl of its own.
PATH="$(bash test/harness/build-tools.sh kubectl):$PATH"; export PATH
echo "== tests"; npx vitest run
