#!/usr/bin/env bash
# The README's pictures, made by the program itself: seed 0's run folder, its GIF, hill and learning curve.
#   bash docs/make_pictures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
run=$(mktemp -d)
python catch_es.py --seed 0 --no-render --out "$run/seed0" > "$run/out.txt"
cp "$run/seed0/catch.gif" "$run/seed0/es_on_a_hill.png" "$run/seed0/learning_curve.png" docs/
tail -n 3 "$run/out.txt"
rm -rf "$run"
