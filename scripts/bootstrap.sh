#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for wf and builds it into build/ (leaving build/wf).
# Idempotent and non-interactive. WF_BUILD_DIR, WF_BUILD_TYPE and WF_SANITIZE=1 change the build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ pkg-config libcli11-dev libyaml-cpp-dev libyaml-dev nlohmann-json3-dev
  libsqlite3-dev libspdlog-dev doctest-dev libhowardhinnant-date-dev sqlite3 tmux man-db groff-base
  python3 zsh fish)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=${WF_BUILD_DIR:-build}
build_type=${WF_BUILD_TYPE:-RelWithDebInfo}
sanitize=OFF
[ "${WF_SANITIZE:-0}" = 1 ] && sanitize=ON
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DWF_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir"
echo "bootstrap: built $build_dir/wf"
