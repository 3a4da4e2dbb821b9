#!/usr/bin/env bash
# Fetch the emoji training data with npm (nothing of it is committed).
#
#   scripts/mini_model/fetch_data.sh [DIR]      (default: target/emoji-data)
#
# emoji-datasource-google: Noto Color Emoji 64 px PNGs (Apache-2.0) and the
#   emoji list (MIT, iamcal/emoji-data).
# emojibase-data: English labels and tags from Unicode CLDR (MIT; CLDR data
#   under the Unicode License v3).
# The tarballs are checked against the npm registry's sha512 integrity.
set -euo pipefail
dir="${1:-target/emoji-data}"
mkdir -p "$dir"
cd "$dir"

fetch() { # name@version expected-integrity folder
  local spec="$1" want="$2" folder="$3"
  if [ -d "$folder" ]; then return; fi
  local tgz
  tgz=$(npm pack --silent "$spec")
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    echo "integrity mismatch for $spec: $got" >&2
    exit 1
  fi
  mkdir -p "$folder.tmp"
  tar xzf "$tgz" -C "$folder.tmp" --strip-components=1
  mv "$folder.tmp" "$folder"
}

fetch emoji-datasource-google@16.0.0 \
  sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A== \
  google
fetch emojibase-data@17.0.0 \
  sha512-Yvgb5AWoHViHV/gq1qr5ZAarcBip+B27/ZLRsUJkbgAEaLlZ/fof9g882LTpmEpyhBNEC0m2SEmItljHsTygjA== \
  emojibase
echo "emoji data in $dir: $(ls google/img/google/64 | wc -l) images"
