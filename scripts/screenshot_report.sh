#!/usr/bin/env bash
# Render a `p2pbench report` page in headless Chromium and save a PNG screenshot.
#
#   scripts/screenshot_report.sh REPORT.html OUT.png [WIDTH,HEIGHT]
#   scripts/screenshot_report.sh RESULTS_DIR OUT.png [WIDTH,HEIGHT]   # builds the report first
#
# The window size defaults to 1400,3000 (CSS pixels); the page is self-contained, so Chromium
# runs without network access. Needs the Debian package `chromium` (apt-get install chromium).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html|RESULTS_DIR OUT.png [WIDTH,HEIGHT]" >&2
  exit 2
fi
SOURCE=$1
OUT=$2
SIZE=${3:-1400,3000}

BROWSER=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    BROWSER=$(command -v "$candidate")
    break
  fi
done
if [ -z "$BROWSER" ]; then
  echo "chromium not found; install it with: apt-get install chromium (Debian/Ubuntu)" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -d "$SOURCE" ]; then
  REPORT="$WORK/report.html"
  p2pbench report "$SOURCE" --out "$REPORT"
elif [ -f "$SOURCE" ]; then
  REPORT=$SOURCE
else
  echo "$SOURCE: no such report file or results folder" >&2
  exit 2
fi
REPORT=$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")

# a private profile: no first-run state, no user settings, nothing left behind
"$BROWSER" --headless --disable-gpu --no-sandbox --hide-scrollbars \
  --user-data-dir="$WORK/profile" --window-size="$SIZE" \
  --screenshot="$OUT" "file://$REPORT" >"$WORK/chromium.log" 2>&1 || {
  cat "$WORK/chromium.log" >&2
  echo "chromium failed to render $REPORT" >&2
  exit 1
}
if [ ! -s "$OUT" ]; then
  cat "$WORK/chromium.log" >&2
  echo "chromium wrote no screenshot" >&2
  exit 1
fi
echo "screenshot written: $OUT"
