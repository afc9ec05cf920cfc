#!/usr/bin/env bash
# Grade the bundled submissions and take a screenshot of grading/report.html with headless
# Chromium (Debian's `chromium` package: apt-get install chromium) into docs/report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(mktemp -d)"
.venv/bin/grade submissions/ --out "$OUT/grading" --roster scripts/example_roster.csv >/dev/null
PROFILE="$(mktemp -d)"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$PROFILE" --window-size=1100,2400 \
  --screenshot="$PWD/docs/report.png" "file://$OUT/grading/report.html" 2>/dev/null
rm -rf "$OUT" "$PROFILE"
echo "wrote docs/report.png"
