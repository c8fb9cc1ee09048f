#!/usr/bin/env bash
# System packages from Debian, installed when missing (root with apt-get):
#   ffmpeg (required for video): ffmpeg and ffprobe decode the video files Gabarit ingests.
#   nasm (optional): libjpeg-turbo's SIMD JPEG decoding (about 1.5x faster, bit-identical).
set -u
want=()
command -v nasm >/dev/null 2>&1 || want+=(nasm)
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || want+=(ffmpeg)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${want[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } >/dev/null 2>&1 \
    || echo "note: could not install ${want[*]}"
else
  echo "note: packages not installed (${want[*]}): install them with your package manager"
fi
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "error: ffmpeg is required to ingest videos (Debian: apt-get install ffmpeg)" >&2
  exit 1
fi
exit 0
