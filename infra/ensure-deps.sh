#!/usr/bin/env bash
# Installs infra/'s npm dependencies with `npm ci` when node_modules is missing or was installed
# from a different package-lock.json (compared by hash, not mtime, so a fresh checkout or a
# branch switch is detected). Used by scripts/deploy and scripts/test-infra. Quiet unless it installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.alchemiser-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x node_modules/.bin/cdk ]]; then
  exit 0
fi
echo "[infra] npm ci (node_modules missing or stale)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
printf '%s\n' "$want" > "$stamp"
