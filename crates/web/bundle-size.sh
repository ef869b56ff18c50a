#!/bin/sh
# Trunk post_build hook: report the wasm + js bundle size, gzipped (-9), and
# fail the build when it exceeds the budget (400 KB) on a release build.
set -eu
dir="${TRUNK_STAGING_DIR:?run from trunk}"
budget=409600
total=0
for file in "$dir"/*.wasm "$dir"/*.js; do
    [ -f "$file" ] || continue
    raw=$(wc -c < "$file")
    gz=$(gzip -9 -c "$file" | wc -c)
    total=$((total + gz))
    printf 'bundle: %-40s %8d bytes, %7d gzipped\n' "$(basename "$file")" "$raw" "$gz"
done
printf 'bundle: wasm + js = %d bytes gzipped (%d KB; budget 400 KB)\n' "$total" $((total / 1024))
if [ "${TRUNK_PROFILE:-debug}" = "release" ] && [ "$total" -gt "$budget" ]; then
    echo "bundle: over the 400 KB budget" >&2
    exit 1
fi
