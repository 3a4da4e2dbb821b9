#!/usr/bin/env bash
# Screenshots of the real studio window for the README: runs the release
# binary under Xvfb with software OpenGL (Mesa llvmpipe), drives it with
# xdotool (typing, Ctrl+Enter, a real drag and drop, the GIF export through
# the real save dialog), and writes screenshots/*.png and emergence.gif. The
# model is the built-in emoji model (assets/mini-emoji), chosen on a first
# start with nothing installed, so every picture is real. The last two show
# the catalog and a download from scripts/fake_hub.py, a local stand-in for
# the hub (with a tiny random-weight pipeline).
#
# Needs: apt-get install xvfb xdotool imagemagick gir1.2-gtk-3.0 zenity python3
# Usage: scripts/screenshots.sh [OUT_DIR]      (default: screenshots/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-screenshots}")
mkdir -p "$out"
for tool in Xvfb xdotool import /usr/bin/convert; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install xvfb xdotool imagemagick gir1.2-gtk-3.0" >&2
    exit 1
  }
done

cargo build --release --bin latent-studio --example tiny_model
bin=$PWD/target/release/latent-studio

work=$(mktemp -d)
app=""
xvfb=""
dnd=""
hub=""
cleanup() {
  for p in $app $dnd $hub $xvfb; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A hand-drawn start picture for img2img: a yellow disc with two dots.
/usr/bin/convert -size 256x256 xc:white -fill '#f7c600' -stroke '#c98a00' -strokewidth 6 \
  -draw "circle 128,128 128,28" -fill '#5a3a00' -stroke none \
  -draw "circle 92,105 92,90" -draw "circle 164,105 164,90" "$work/drawing.png"

display=":$((90 + RANDOM % 400))"
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
sleep 1
mkdir -m 700 "$work/rt"
export DISPLAY=$display XDG_RUNTIME_DIR=$work/rt XDG_DATA_HOME=$work/data \
  XDG_CACHE_HOME=$work/cache HOME=$work/home HF_HOME=$work/hf GSETTINGS_BACKEND=memory
history=$work/cache/latent-studio/history

launch() {
  "$bin" "$@" >>"$work/app.log" 2>&1 &
  app=$!
  wid=$(xdotool search --sync --name "^Latent Studio$" | head -1)
  xdotool windowfocus --sync "$wid"
  sleep 1.5
}
shot() {
  xdotool mousemove "${2:-1270}" "${3:-810}"
  sleep "${4:-0.5}"
  import -window root "$out/$1.png"
  echo "wrote $out/$1.png"
}
wait_for_images() {
  for _ in $(seq 3000); do
    [ "$(ls "$history" 2>/dev/null | wc -l)" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for image $1" >&2
  exit 1
}

# 1. A first start with nothing installed: the built-in model is chosen.
launch --frame-stats
shot 01-studio
echo "idle window: $(grep VmRSS /proc/$app/status)"

# 2. Type a prompt, Ctrl+Enter, and catch the picture mid-way: a burst of
# screenshots until the image is done, keeping one from the middle.
xdotool mousemove 170 80 click 1
xdotool type --delay 15 "red heart"
# Seed 2 (a random one is rolled at start): click the seed field, type it.
xdotool mousemove 108 403 click 1
sleep 0.3
xdotool key ctrl+a
xdotool type "2"
xdotool key Return
sleep 0.3
xdotool mousemove 1270 810
xdotool key ctrl+Return
n=0
while [ "$(ls "$history" 2>/dev/null | wc -l)" -lt 1 ] && [ $n -lt 200 ]; do
  n=$((n + 1))
  import -window root "$work/burst-$(printf %03d $n).png"
done
cp "$work/burst-$(printf %03d $(((n + 1) / 2))).png" "$out/02-generating.png"
echo "wrote $out/02-generating.png (shot $(((n + 1) / 2)) of $n)"

# 3. Finished: the result, its actions and the timeline of every step.
wait_for_images 1
sleep 1
shot 03-finished
# Hover a timeline frame: the canvas shows the image at that step.
shot 04-timeline-scrub 520 788 0.8

# The emergence as a GIF, through the window's own Export GIF… and the real
# save dialog (rfd falls back to zenity without a desktop portal).
xdotool mousemove 848 43 click 1
dialog=$(xdotool search --sync --onlyvisible --class zenity | head -1)
sleep 1.5
xdotool windowfocus --sync "$dialog" key ctrl+a
xdotool type --delay 10 "$work/emergence.gif"
xdotool key Return
for _ in $(seq 100); do [ -s "$work/emergence.gif" ] && break; sleep 0.1; done
sleep 0.5
cp "$work/emergence.gif" "$out/emergence.gif" && echo "wrote $out/emergence.gif"
xdotool windowfocus --sync "$wid"

# 5. A real drag and drop of a picture onto the window.
/usr/bin/python3 scripts/dnd_source.py "$work/drawing.png" 1100 740 >"$work/dnd.log" 2>&1 &
dnd=$!
src=$(xdotool search --sync --name "^dnd-source$" | head -1)
sleep 1
eval "$(xdotool getwindowgeometry --shell "$src")"
xdotool mousemove $((X + 40)) $((Y + 20)) mousedown 1
for step in $(seq 1 12); do
  xdotool mousemove $((X + 40 - step * 45)) $((Y + 20 - step * 30))
  sleep 0.05
done
sleep 0.5
import -window root "$out/05-drop-hover.png" && echo "wrote $out/05-drop-hover.png"
xdotool mouseup 1
sleep 0.5
kill "$dnd" 2>/dev/null || true
dnd=""
sleep 2
shot 06-img2img-decay-lens

# 7. img2img from the dropped drawing, with a new prompt.
xdotool mousemove 170 80 click 1 key ctrl+a
xdotool type --delay 15 "grinning face"
xdotool mousemove 1270 810
xdotool key ctrl+Return
wait_for_images 2
sleep 1
shot 07-img2img-result

# 8. The library: every saved image (history + favorites), searchable.
xdotool mousemove 242 12 click 1
sleep 2
xdotool mousemove 80 150 click 1
sleep 1
shot 08-library

# Close gracefully (settings are saved on close) and report frame times.
xdotool windowfocus --sync "$wid" key ctrl+q
wait "$app" || true
app=""
grep "frame stats" "$work/app.log" || true

# 9–10. A first start without models: the catalog, and a download from a
# stand-in for the hub (scripts/fake_hub.py, throttled to 1.5 MB/s).
target/release/examples/tiny_model "$work/tiny-turbo" sd2 >/dev/null
port=$((20000 + RANDOM % 20000))
/usr/bin/python3 scripts/fake_hub.py "$work/tiny-turbo" stabilityai/sd-turbo \
  --port "$port" --rate 1500000 &
hub=$!
export XDG_DATA_HOME=$work/data-fresh HF_HOME=$work/hf-fresh HF_ENDPOINT=http://127.0.0.1:$port
launch
xdotool mousemove 70 276 click 1
sleep 1
shot 09-models
xdotool mousemove 91 322 click 1
sleep 2.5
shot 10-downloading
xdotool windowfocus --sync "$wid" key ctrl+q
wait "$app" || true
app=""
