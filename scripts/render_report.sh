#!/usr/bin/env bash
# Render a course report in headless Chromium and save a screenshot, to check that the
# report shows its figures in a real browser.
#   bash scripts/render_report.sh reports/multicentre/report.html /tmp/report.png
# Needs Debian's chromium (apt-get install -y chromium); the page is a local file and the
# flags keep Chromium off the network.
set -euo pipefail
report="${1:-reports/multicentre/report.html}"
png="${2:-/tmp/report.png}"
if ! command -v chromium >/dev/null; then
  echo "chromium not found: apt-get install -y chromium" >&2
  exit 2
fi
[ -f "$report" ] || { echo "no report at $report: run 'bash dev.sh run' first" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --screenshot="$png" --window-size=1200,24000 \
  "file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")" 2>/dev/null
images=$(grep -o '<img src="data:image/png;base64,' "$report" | wc -l)
echo "rendered $report ($images embedded figures) to $png"
