#!/usr/bin/env bash
# make fresh-check: what a new user gets. Clone main into a temporary folder with no ../shared beside it,
# an empty HOME (no caches, no keras, no W&B login) and the data only through the project's own download,
# from a local HTTP mirror of the real files (MLP_DATA_URL; these machines have no internet). Then run the
# README's set-up commands verbatim, train one epoch on each dataset, evaluate the shipped model, play the
# course skeleton's grader from src/ in a bare venv with only requirements.txt, and check that a corrupted
# mirror ends in one line, exit status 2 and an empty cache.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="$(cd "${MLP_DATA_DIR:-$ROOT/../shared/data}" && pwd)"
PYTHON_BIN="$(dirname "$(python3 -c 'import sys; print(sys.executable)')")"  # found before HOME changes
WORK="$(mktemp -d)"
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/mirror/corrupt/mnist" "$WORK/home"
ln -s "$DATA" "$WORK/mirror/good"
cp "$DATA"/mnist/*.gz "$WORK/mirror/corrupt/mnist/"
chmod u+w "$WORK"/mirror/corrupt/mnist/*
printf '\xff' | dd of="$WORK/mirror/corrupt/mnist/t10k-labels-idx1-ubyte.gz" bs=1 seek=100 conv=notrunc status=none
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/mirror" >/dev/null 2>&1 &
SERVER=$!

git clone --quiet --branch main "$ROOT" "$WORK/repo"
cd "$WORK/repo"
test ! -e ../shared
unset MLP_DATA_DIR MLP_DB MLP_RUNS_DIR XDG_CACHE_HOME
export HOME="$WORK/home" PATH="$PYTHON_BIN:$PATH" WANDB_MODE=disabled
export MLP_DATA_URL="http://127.0.0.1:$PORT/good"

step() {
  echo "== $1"
  local started=$SECONDS
  bash -c "$1"
  echo "== ok in $((SECONDS - started))s: $1"
}
# The commands of the README's "Set up" block, verbatim.
setup=$(awk '/^## Set up/{s=1} s&&/^```sh/{c=1;next} c&&/^```/{exit} c' README.md | sed 's/ *#.*//' | grep .)
while IFS= read -r cmd; do step "$cmd"; done <<< "$setup"
step ".venv/bin/python train.py -d mnist -e 1"
step ".venv/bin/python train.py -d fashion_mnist -e 1"
step ".venv/bin/python inference.py"

echo "== the course skeleton's grader: a bare venv with only requirements.txt, from src/, the project not installed"
python3 -m venv "$WORK/bare"
step "$WORK/bare/bin/pip install --quiet -r requirements.txt"
(cd / && ! "$WORK/bare/bin/python" -c "import mlp" 2>/dev/null)
cp tests/skeleton_grader.py src/
for check in imports forward_on_fixed_weights assigned_weights_keep_training gradients \
             gradients_of_a_model_built_from_best_config inference_functions train_twice \
             widths_alone_and_a_new_save_folder unknown_flags; do
  (cd src && export MLP_DATA_DIR="$DATA" && step "$WORK/bare/bin/python skeleton_grader.py $check")
done

echo "== a corrupted mirror"
set +e
err=$(XDG_CACHE_HOME="$WORK/empty-cache" MLP_DATA_URL="http://127.0.0.1:$PORT/corrupt" \
      .venv/bin/python train.py -d mnist -e 1 2>&1 >/dev/null)
status=$?
set -e
echo "$err"
[ "$status" -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *t10k-labels-idx1-ubyte.gz* ]]
[ -z "$(find "$WORK/empty-cache" -type f 2>/dev/null | grep t10k-labels)" ]
echo "== ok: one line, exit 2, no t10k-labels file cached"
echo "fresh-check passed: a clean clone with no ../shared and an empty HOME set up, tested, trained and evaluated"
