#!/usr/bin/env bash
# Optional system packages from Debian, installed when possible (root with apt-get) and
# skipped otherwise: nothing here is required for a correct build.
#   nasm: libjpeg-turbo's SIMD JPEG decoding (about 1.5x faster, bit-identical output).
set -u
want=()
command -v nasm >/dev/null 2>&1 || want+=(nasm)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing optional Debian packages: ${want[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } >/dev/null 2>&1 \
    || echo "note: could not install ${want[*]}; continuing without (slower JPEG decoding)"
else
  echo "note: optional packages not installed (${want[*]}): JPEG decoding will not use SIMD"
fi
exit 0
