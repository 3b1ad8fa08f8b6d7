#!/usr/bin/env bash
# Simulate other machines on this one: run the smoke nbval references under several CPU kernel
# configurations, each from an empty store, and report pass/fail per configuration.
#   make kernel-matrix            (or: bash scripts/kernel_matrix.sh [NAME ...])
# Each configuration caps or changes the kernels torch picks (oneDNN ISA, ATen's vector width,
# MKL's code path) or the thread count, as a CPU without AVX-512 or with fewer cores would.
set -uo pipefail
export TARF_PROGRESS=0  # as the Makefile: no progress bars in executed outputs
cd "$(dirname "$0")/.."
declare -A CONFIGS=(
  [default]=""
  [avx2]="ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2"
  [sse41]="ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE"
  [threads1]="TARF_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"
)
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=(default avx2 sse41 threads1)
status=0
for name in "${names[@]}"; do
  [[ -v CONFIGS[$name] ]] || { echo "unknown configuration $name; valid: ${!CONFIGS[*]}" >&2; exit 2; }
  store=$(mktemp -d); start=$(date +%s)
  env ${CONFIGS[$name]} TARF_STORE="$store" TARF_OUTPUT="$store" .venv/bin/pytest -q -p no:cacheprovider --nbval \
      --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg executed/smoke/ \
      > "/tmp/kernel_matrix.$name.log" 2>&1
  rc=$?; rm -rf "$store"
  echo "$name: $(tail -1 /tmp/kernel_matrix.$name.log) (rc $rc, $(( $(date +%s) - start )) s; ${CONFIGS[$name]:-no overrides})"
  [[ $rc -eq 0 ]] || status=1
done
exit $status
