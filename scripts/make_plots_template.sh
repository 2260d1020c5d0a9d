#!/usr/bin/env bash
# Rebuild .dvc/plots_offline.html: DVC's plot page with vega, vega-lite and vega-embed inlined
# (from the npm registry), so `dvc plots show` renders without internet. DVC's default page loads
# them from a CDN; a template without the `{scripts}` placeholder drops those tags.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
(cd "$tmp" && npm pack -q vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0 >/dev/null && for f in *.tgz; do tar xzf "$f"; mv package "${f%.tgz}"; done)
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<title>byteloom plots</title>\n'
  for js in vega-5.33.1/build/vega.min.js vega-lite-5.23.0/build/vega-lite.min.js vega-embed-6.29.0/build/vega-embed.min.js; do
    printf '<script>\n'; cat "$tmp/$js"; printf '\n</script>\n'
  done
  printf '<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n'
} > .dvc/plots_offline.html
rm -rf "$tmp"
echo "wrote .dvc/plots_offline.html"
