#!/usr/bin/env bash
# make fresh-check: clone main into a temporary folder with a new virtual environment,
# run the README's set-up commands verbatim, then its main example.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${MLP_DATA_DIR:-$ROOT/../shared/data}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
git clone --quiet --branch main "$ROOT" "$WORK/repo"
cd "$WORK/repo"
# The commands of the README's "Set up" block, then the first command of "Train one model".
setup=$(awk '/^## Set up/{s=1} s&&/^```sh/{c=1;next} c&&/^```/{exit} c' README.md | sed 's/ *#.*//' | grep .)
example=$(awk '/^## Train one model/{s=1} s&&/^```sh/{c=1;next} c&&/^```/{exit} c' README.md | sed 's/ *#.*//' | grep . | head -1)
export MLP_DATA_DIR="$(cd "$DATA" && pwd)" WANDB_MODE=disabled
while IFS= read -r cmd; do
  echo "== $cmd"
  started=$SECONDS
  bash -c "$cmd"
  echo "== ok in $((SECONDS - started))s: $cmd"
done <<< "$setup"$'\n'"$example"
echo "fresh-check passed: a clean clone set up, tested and trained by the README alone"
