#!/usr/bin/env bash
# Screenshots of the real studio window for the README: runs the release
# binary under Xvfb with software OpenGL (Mesa llvmpipe), drives it with
# xdotool (typing, Ctrl+Enter, a real drag and drop), and writes
# screenshots/*.png. The model is a tiny random-weight SD 1.x pipeline in the
# diffusers layout, so pictures are coloured noise: the window, the steps and
# the timeline are real. The last two show a first start without models and
# a catalog download from scripts/fake_hub.py, a local stand-in for the hub.
#
# Needs: apt-get install xvfb xdotool imagemagick gir1.2-gtk-3.0 python3
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

target/release/examples/tiny_model "$work/tiny-sd15" sd1 >/dev/null
/usr/bin/convert wizard: -resize 384x512 "$work/wizard.png"

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

# 1. The studio with a model chosen and nothing generated yet.
launch --model "$work/tiny-sd15" --size 512x512 --steps 30 --frame-stats
shot 01-studio
echo "idle window: $(grep VmRSS /proc/$app/status)"

# 2. Type a prompt, Ctrl+Enter, and catch the picture mid-way.
xdotool mousemove 170 80 click 1
xdotool type --delay 15 "a terrier puppy in fresh snow, golden hour, 35 mm photo"
sleep 0.3
xdotool key ctrl+Return
sleep 4
shot 02-generating

# 3. Finished: the result, its actions and the timeline of every step.
wait_for_images 1
sleep 1
shot 03-finished
# Hover a timeline frame: the canvas shows the image at that step.
shot 04-timeline-scrub 520 788 0.8

# 5. A real drag and drop of a picture onto the window.
/usr/bin/python3 scripts/dnd_source.py "$work/wizard.png" 1100 740 >"$work/dnd.log" 2>&1 &
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

# 7. img2img from the dropped image.
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
shot 09-models
xdotool mousemove 91 322 click 1
sleep 2.5
shot 10-downloading
xdotool windowfocus --sync "$wid" key ctrl+q
wait "$app" || true
app=""
