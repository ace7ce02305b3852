#!/usr/bin/env bash
# Fails, printing the difference, when a shipped copy of the CRD (crds/, deploy/crds/, the Helm
# chart's files/) or the folder given as $1 is not exactly what scripts/generate-crds.ts produces
# from src/api: the schema changed without a regeneration, or someone edited a generated file.
# The fix is always: npm run generate:crds
set -euo pipefail
cd "$(dirname "$0")/.."
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
npx tsx scripts/generate-crds.ts --out "$fresh" >/dev/null
status=0
for committed in ${1:-crds deploy/crds charts/modelpack-operator/files}; do
  for file in "$fresh"/*; do
    if ! diff -u "$committed/$(basename "$file")" "$file"; then
      echo "check-crds: $committed is out of date (- committed, + generated); run: npm run generate:crds" >&2
      status=1
    fi
  done
done
[ $status = 0 ] && echo "check-crds: every copy of the CRD is up to date"
exit $status
