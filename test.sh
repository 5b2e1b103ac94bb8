#!/usr/bin/env bash
# Runs every test of the project: the C# suites (dotnet test) and the GitHub Action's (node --test).
# The last line is a plain summary computed from the real runs: `tests: N passed, M failed[, K skipped]`.
# Exit status is non-zero when any test failed or a suite could not run.
set -uo pipefail
cd "$(dirname "$0")"

results="${TEST_RESULTS_DIR:-TestResults}"
rm -rf "$results"
mkdir -p "$results"
status=0

echo "== build"
if ! dotnet build DeployGate.sln -c Debug --nologo -v quiet; then
  echo "tests: 0 passed, 1 failed (the build failed)"
  exit 1
fi

echo "== C# tests"
dotnet test DeployGate.sln -c Debug --no-build --nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" || status=1

echo "== action tests (node --test)"
node_out="$results/action.txt"
(cd action && npm test --silent) 2>&1 | tee "$node_out"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# Count: every TRX file's <Counters …/>, plus node's closing `# pass N` / `# fail N` / `# skipped N`.
num() { local v; v=$(cat); echo "${v:-0}"; }
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" | num; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  # Skipped tests are results with outcome NotExecuted (the counters' notExecuted stays 0 for xunit skips).
  skipped=$((skipped + $(grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' "$trx" | wc -l)))
done
if [ -f "$node_out" ]; then
  node_count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$node_out" | tail -n 1 | num; }
  passed=$((passed + $(node_count pass)))
  failed=$((failed + $(node_count fail) + $(node_count cancelled)))
  skipped=$((skipped + $(node_count skipped) + $(node_count todo)))
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then status=1; fi

# Skipped tests, by name and reason (e.g. the PostgreSQL ones without DEPLOYGATE_TEST_POSTGRES), so a skip is never silent.
if [ "$skipped" -gt 0 ]; then
  echo "== skipped tests"
  for trx in "$results"/*.trx; do
    [ -f "$trx" ] || continue
    grep -o '<UnitTestResult [^>]*outcome="NotExecuted"[^>]*>' "$trx" | sed -n 's/.* testName="\([^"]*\)".*/  \1/p'
  done | sort | head -n 200
  grep -h -o 'DEPLOYGATE_TEST_POSTGRES not set[^<]*' "$results"/*.trx 2>/dev/null | sort -u | sed 's/^/  reason: /'
fi

# The reliability suite's figures (requests, faults injected, decisions checked, lost), from its test output.
for trx in "$results"/*.trx; do
  grep -q 'DeployGate.Reliability.Tests' "$trx" || continue
  echo "== reliability figures"
  awk '/<StdOut>/{p=1; sub(/.*<StdOut>/,"")} p{ if (/<\/StdOut>/){sub(/<\/StdOut>.*/,""); print; p=0} else print }' "$trx" \
    | grep -E '^(TOTAL|steady|after|grant|fault|instance|database|policy fuzz|webhook|hostile|answered|head hash)' \
    | sed 's/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g' | sed 's/^/  /'
done

summary="tests: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary" > "$results/summary.txt"
echo "$summary"
exit $status
