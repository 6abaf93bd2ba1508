#!/bin/sh
# Installs the Debian packages Headwater runs and tests with, when any is missing.
# ffmpeg: test publisher and ffprobe; libsrt1.5-openssl: SRT ingest (ctypes);
# postgresql: the PostgreSQL half of the test matrix; chromium: player tests and HTML overlays;
# nodejs/npm: installing hls.js and dash.js for the player (and Shaka Player for the tests);
# GStreamer as a test publisher and player: gst-launch-1.0 (tools), videotestsrc/audiotestsrc,
# playbin3 (base), flvmux, aacparse, hlsdemux2/dashdemux2 (good), rtmp2sink, rtmpsink, srtsink,
# mpegtsmux, h264parse, voaacenc (bad), x264enc (ugly), avdec_h264 (libav);
# VLC 3 (vlc-bin, vlc-plugin-base): a third-party player in the tests.
# Arguments, when given, replace the list (e.g. the benchmarks' nginx, libnginx-mod-rtmp, wrk).
set -eu
PACKAGES="${*:-ffmpeg libsrt1.5-openssl postgresql chromium nodejs npm gstreamer1.0-tools
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
    gstreamer1.0-libav vlc-bin vlc-plugin-base}"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $package"
done
# A machine that already has node and npm (e.g. from nodesource) needs no Debian copies.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
[ -z "$missing" ] && exit 0
echo "Installing Debian packages: $missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
