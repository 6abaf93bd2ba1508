#!/bin/sh
# Installs the Debian packages Headwater runs and tests with, when any is missing.
# ffmpeg: test publisher and ffprobe; libsrt1.5-openssl: SRT ingest (ctypes);
# postgresql: the PostgreSQL half of the test matrix; chromium: player tests and HTML overlays;
# nodejs/npm: installing hls.js and dash.js for the player (and Shaka Player for the tests);
# GStreamer as a test publisher and player: gst-launch-1.0 (tools), videotestsrc/audiotestsrc,
# playbin3 (base), flvmux, aacparse, hlsdemux2/dashdemux2 (good), rtmp2sink, rtmpsink, srtsink,
# mpegtsmux, h264parse, voaacenc (bad), x264enc (ugly), avdec_h264 (libav);
# VLC 3 (vlc-bin, vlc-plugin-base): a third-party player in the tests.
# Arguments, when given, replace the list: `make test` and `make bench` add the benchmarks'
# reference server and load tool (nginx, libnginx-mod-rtmp, wrk; the tests run every
# benchmark's smoke mode, tests/bench/test_smoke.py); `make run` does without them.
#
# nginx is only ever started by the benchmarks, on their own ports and config: installing it
# must not leave a system nginx on port 80 (nor fail when port 80 is taken). So no service is
# started while installing nginx (/usr/sbin/policy-rc.d, when the machine has none; the tests
# start their own PostgreSQL too), and a system nginx running after that is stopped and disabled.
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
case " $missing " in *" nginx "*) new_nginx=yes ;; *) new_nginx=no ;; esac
POLICY=/usr/sbin/policy-rc.d
if [ "$new_nginx" = yes ] && [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# system-packages.sh: start no service while installing\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
if [ "$new_nginx" = yes ]; then
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now nginx.service >/dev/null 2>&1 || true
    fi
    if [ -f /run/nginx.pid ]; then
        $SUDO /usr/sbin/nginx -s quit 2>/dev/null || true
    fi
fi
