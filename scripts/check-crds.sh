#!/usr/bin/env bash
# Fails, printing the difference, when crds/ (or the folder given as $1) is not exactly what
# scripts/generate-crds.ts produces from src/api: the schema changed without a regeneration, or
# someone edited a generated file. The fix is always: npx tsx scripts/generate-crds.ts
set -euo pipefail
cd "$(dirname "$0")/.."
committed="${1:-crds}"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
npx tsx scripts/generate-crds.ts --out "$fresh" >/dev/null
if ! diff -ru "$committed" "$fresh"; then
  echo "check-crds: $committed is out of date (- committed, + generated); run: npx tsx scripts/generate-crds.ts" >&2
  exit 1
fi
echo "check-crds: $committed is up to date"
