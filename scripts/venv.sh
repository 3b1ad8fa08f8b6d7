#!/usr/bin/env bash
# Build VENV from the lock: scripts/venv.sh PYTHON DEPS VENV (the Makefile's `make venv`).
#
# The locked stack (6 GB, torch's CUDA build) is installed once per machine into DEPS, a folder named
# by the hash of pyproject.toml, constraints.txt and the Python. Each clone's VENV is then a
# hard-linked copy of DEPS (seconds, no extra disk) plus this clone's own editable install, so a
# fresh clone does not pay pip's 1.5–2.5 min again. DEPS empty: install straight into VENV.
set -euo pipefail
python=$1 deps=$2 venv=$3

install() {  # the locked stack and this clone's package with every extra, as pip resolves them
  "$1/bin/python" -m pip install -q -c constraints.txt -e '.[notebooks,dev]'
}

if [[ -z $deps ]]; then
  test -x "$venv/bin/python" || "$python" -m venv "$venv"
  install "$venv"
  exit
fi

mkdir -p "$(dirname "$deps")"
exec 9>"$deps.lock"
flock 9  # two clones at once: one builds DEPS, the other waits for it
if [[ ! -e $deps/.complete ]]; then  # absent or half-built (a killed install): build it again
  rm -rf "$deps"
  "$python" -m venv "$deps"
  install "$deps"  # the same resolution as a plain install (setuptools included), then
  "$deps/bin/python" -m pip uninstall -q -y tarf  # drop the one package that belongs to a clone
  touch "$deps/.complete"
fi

rm -rf "$venv"
cp -al "$deps" "$venv"
rm "$venv/.complete"
# Scripts and activate files name the folder they were installed into. sed -i writes a new file,
# so the hard link to DEPS breaks for these few files and DEPS keeps its own.
here=$(cd "$venv" && pwd)
grep -rlIF --null "$deps" "$venv/bin" "$venv/pyvenv.cfg" | xargs -0 -r sed -i "s|$deps|$here|g"
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
