#!/usr/bin/env bash
# Refresh the API documentation assets shipped in the package (python/nftreg/api/static/docs):
# Swagger UI and Redoc at the pinned versions below, fetched with `npm pack` from the npm
# registry, so /docs and /redoc work on a host without internet access. Writes MANIFEST.txt
# (version and SHA-256 of every file); tests/test_docs_offline.py checks the files against it.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI=5.35.0
REDOC=2.5.2  # 2.x: Redoc 3 loads icons from a CDN and sends telemetry to redocly.com
out=python/nftreg/api/static/docs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
mkdir -p "$tmp/s" "$tmp/r"
tar xzf "$tmp/swagger-ui-dist-$SWAGGER_UI.tgz" -C "$tmp/s"
tar xzf "$tmp/redoc-$REDOC.tgz" -C "$tmp/r"
cp "$tmp/s/package/swagger-ui-bundle.js" "$tmp/s/package/swagger-ui.css" "$tmp/s/package/favicon-32x32.png" "$out/"
cp "$tmp/s/package/LICENSE" "$out/LICENSE.swagger-ui"
cp "$tmp/s/package/NOTICE" "$out/NOTICE.swagger-ui"
cp "$tmp/r/package/bundles/redoc.standalone.js" "$out/"
# The one remote resource in Redoc's bundle: the sidebar's "API docs by Redocly" logo image from
# cdn.redoc.ly. Without a URL the image is never requested (an empty src fires onError, which
# hides it); the CSP would block it anyway, but the page should not even try.
upstream_redoc=$(sha256sum "$out/redoc.standalone.js" | cut -d' ' -f1)
sed -i 's#https://cdn\.redoc\.ly/redoc/logo-mini\.svg##g' "$out/redoc.standalone.js"
cp "$tmp/r/package/LICENSE" "$out/LICENSE.redoc"
{
  echo "swagger-ui-dist $SWAGGER_UI"
  echo "redoc $REDOC (upstream redoc.standalone.js $upstream_redoc; its cdn.redoc.ly logo URL removed)"
  (cd "$out" && sha256sum swagger-ui-bundle.js swagger-ui.css favicon-32x32.png redoc.standalone.js \
     LICENSE.swagger-ui NOTICE.swagger-ui LICENSE.redoc)
} > "$out/MANIFEST.txt"
echo "vendored swagger-ui-dist $SWAGGER_UI and redoc $REDOC into $out"
