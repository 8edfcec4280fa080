#!/usr/bin/env bash
# Installs every Debian package medpipe's build, tests and demo need. Idempotent, non-interactive.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev
  libinsighttoolkit5-dev libdcmtk-dev dcmtk libgdcm-dev
  libopenjp2-7-dev libcharls-dev
  libtorch-dev libdnnl-dev python3-torch python3-numpy python3-nibabel python3-scipy python3-pydicom python3-pil
  libopencv-dev libboost-program-options-dev nlohmann-json3-dev zlib1g-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev
  dcm2niix dicom3tools plastimatch bc strace
  orthanc curl
  python3-jsonschema chromium fonts-dejavu-core
  slurmctld slurmd slurm-client munge
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The report's slice viewer (NiiVue) and the browser tests' driver (playwright-core), pinned in
# package-lock.json; `npm ci` only when node_modules was not installed from this very lock file.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v npm >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends nodejs npm
fi
lock_sha="$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$repo/node_modules/.medpipe-lock-sha256" 2>/dev/null)" != "$lock_sha" ]; then
  (cd "$repo" && npm ci --ignore-scripts --no-audit --no-fund)
  echo "$lock_sha" >"$repo/node_modules/.medpipe-lock-sha256"
fi
