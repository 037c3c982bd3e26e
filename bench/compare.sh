#!/usr/bin/env bash
# Compares the working tree with a baseline git ref on one benchmark, side by side in the same session:
#
#   bench/compare.sh [--rounds N] [--ref-bench] <ref> <bench> [bench args...]
#   bench/compare.sh main fleet --slaves 1000 --duration 20
#   bench/compare.sh --rounds 3 HEAD~1 registry
#
# <bench> is one of front-end, registry, fleet, chaos, result-pool, nats. The ref is checked out into a temporary git
# worktree (removed on exit), `npm ci` runs there, then the benchmark runs in both trees alternately, --rounds times each
# (default 2; the order flips every round so neither tree always goes first), and bench/compare-report.ts prints
# each headline figure's median per tree and the ratio. By default the benchmark code itself is the working
# tree's in both runs (copied into the worktree), so only src/ and the dependencies differ; --ref-bench runs the
# ref's own bench/ instead. Nothing is committed or staged; the side-by-side table is also written to
# bench/results/compare-<bench>-<time>.md.
set -euo pipefail

rounds=2
ref_bench=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --rounds=*) rounds="${1#*=}"; shift ;;
    --ref-bench) ref_bench=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if [[ $# -lt 2 ]]; then
  echo "usage: bench/compare.sh [--rounds N] [--ref-bench] <ref> <bench> [bench args...]" >&2
  exit 2
fi
ref="$1"
bench="$2"
shift 2
case "$bench" in
  front-end|registry|fleet|chaos|result-pool|nats) ;;
  *) echo "unknown benchmark '$bench' (front-end, registry, fleet, chaos, result-pool, nats)" >&2; exit 2 ;;
esac
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "--rounds must be a positive integer" >&2
  exit 2
fi

root="$(git rev-parse --show-toplevel)"
sha="$(git -C "$root" rev-parse --verify "${ref}^{commit}")"
short="$(git -C "$root" rev-parse --short "$sha")"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/fleetmaster-compare.XXXXXX")"
tree="$tmp/tree"

cleanup() {
  git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true
  git -C "$root" worktree prune >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "baseline: $ref ($short) in $tree" >&2
git -C "$root" worktree add --detach "$tree" "$sha" >/dev/null
echo "npm ci in the baseline worktree..." >&2
(cd "$tree" && npm ci --no-audit --no-fund --loglevel=error >&2)
if [[ "$ref_bench" -eq 0 ]]; then
  # the same benchmark code on both sides: only src/ and the dependencies differ
  rm -rf "$tree/bench"
  mkdir -p "$tree/bench"
  (cd "$root/bench" && tar --exclude=./results -cf - .) | (cd "$tree/bench" && tar -xf -)
fi
script() { # <tree>: the benchmark's entry there (bench/<name>/<name>.ts, or bench/<name>.ts before the harness)
  if [[ -f "$1/bench/$bench/$bench.ts" ]]; then echo "bench/$bench/$bench.ts"; else echo "bench/$bench.ts"; fi
}
if [[ ! -f "$tree/$(script "$tree")" ]]; then
  echo "the baseline has no bench/$bench/$bench.ts (drop --ref-bench?)" >&2
  exit 2
fi

run_one() { # <label> <dir> <round> [bench args...]
  local label="$1" dir="$2" round="$3"
  shift 3
  local out="$tmp/results/$label/$round"
  mkdir -p "$out"
  echo "== round $round/$rounds: $label" >&2
  # a benchmark that reports problems exits 1: keep its result and go on
  (cd "$dir" && npx tsx "$(script "$dir")" "$@" --out "$out") >"$out/stdout.md" || {
    local code=$?
    echo "($label exited $code; see $out/stdout.md)" >&2
  }
}

for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then
    run_one current "$root" "$round" "${@}"
    run_one baseline "$tree" "$round" "${@}"
  else
    run_one baseline "$tree" "$round" "${@}"
    run_one current "$root" "$round" "${@}"
  fi
done

mkdir -p "$root/bench/results"
report="$root/bench/results/compare-$bench-$(date -u +%Y-%m-%dT%H-%M-%SZ).md"
(cd "$root" && npx tsx bench/compare-report.ts "$tmp/results/current" "$tmp/results/baseline" \
  --bench "$bench" --current-label "working tree" --baseline-label "$ref ($short)" --out "$report")
