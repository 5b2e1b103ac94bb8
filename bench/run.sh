#!/usr/bin/env bash
# DeployGate benchmarks, one command: builds Release, runs the in-process decision benchmarks (per-decision
# timing, then BenchmarkDotNet), then the HTTP load run over loopback (deploygate serve with durable SQLite
# audit, and over PostgreSQL, and with the GitHub policy source, vs a Kestrel plaintext baseline, same run).
# Also: the OIDC token check in process, the durable audit log alone, and example-tmpfs (the example run with the
# gate's files on /dev/shm, not durable): the floors the HTTP figures stand on, and the disk's share of them.
# Prints a markdown report and writes it to bench/results/<date>.md. About 10 minutes; loopback only.
#   bench/run.sh                 full run
#   BENCH_SECONDS=1 bench/run.sh  shorter phases (smoke test)
#   BENCH_TARGETS=plaintext,example bench/run.sh
#   BENCH_OUT=bench/results/mine.md bench/run.sh   another report file
# The large-edits target is large with one of its 32 policy files rewritten every second while it is measured: what
# policy edits under load cost (a compile each).
# The example-github target reads the policy through the GitHub policy source from a fake GitHub REST API on loopback
# (the plaintext program with --github-policy, its own process).
# The example-postgres target starts a throwaway PostgreSQL cluster (tests/postgres.sh: Debian's postgresql
# package, installed when missing and run as root; fsync on) in a fresh folder, and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${BENCH_SECONDS:-3}"
targets="${BENCH_TARGETS:-plaintext,example,large,example-nocache,example-allows,example-redeem,example-github,example-postgres,example-tmpfs,large-edits}"
out="${BENCH_OUT:-bench/results/$(date -u +%Y-%m-%d).md}"

echo "== build (Release)" >&2
dotnet build src/DeployGate.Cli -c Release --nologo -v quiet >&2
dotnet build bench/DeployGate.Bench.Plaintext -c Release --nologo -v quiet >&2
dotnet build bench/DeployGate.Benchmarks -c Release --nologo -v quiet >&2

bench="bench/DeployGate.Benchmarks/bin/Release/net10.0/DeployGate.Benchmarks.dll"
inprocess="$(mktemp)"
trap 'rm -f "$inprocess"' EXIT

echo "== in-process decision latency" >&2
{
  echo "Each decision timed separately (\`latency 1000000\`):"
  echo
  echo '```'
  dotnet "$bench" latency 1000000
  echo '```'
} | tee "$inprocess" >&2

echo "== in-process decision, BenchmarkDotNet" >&2
artifacts="$(mktemp -d)"
dotnet "$bench" --filter '*' --artifacts "$artifacts" >&2
{
  echo
  echo "BenchmarkDotNet (\`--filter '*'\`; mean, percentiles of its 20 iteration means, allocations per decision):"
  echo
  sed -n '/^| Method/,$p' "$artifacts"/results/*-report-github.md | sed 's/\*\*//g'
} >> "$inprocess"
rm -rf "$artifacts"

echo "== in-process token check" >&2
{
  echo
  echo "The OIDC token check (\`token 20000\`): a token never seen before, a replayed one, and RSA verification alone:"
  echo
  echo '```'
  dotnet "$bench" token 20000
  echo '```'
} | tee -a "$inprocess" >&2

echo "== durable audit log alone" >&2
{
  echo
  echo "The SQLite audit log alone, group commit with 1…256 concurrent appenders (\`audit 2\`), on the same disk as the HTTP runs' audit files:"
  echo
  echo '```'
  dotnet "$bench" audit 2
  echo '```'
} | tee -a "$inprocess" >&2

if [[ ",$targets," == *",example-postgres,"* ]]; then
  echo "== PostgreSQL (throwaway cluster)" >&2
  export DG_PG_DIR="$(mktemp -d /tmp/deploygate-bench-pg-XXXXXX)" DG_PG_PORT="${BENCH_PG_PORT:-25433}"
  DEPLOYGATE_BENCH_POSTGRES="$(tests/postgres.sh start | tail -n 1)"
  export DEPLOYGATE_BENCH_POSTGRES
  trap 'rm -f "$inprocess"; tests/postgres.sh stop >/dev/null 2>&1 || true; rm -rf "$DG_PG_DIR"' EXIT
fi

echo "== HTTP load run" >&2
# The load generator shares the two cores with the server, so it must be cheap: its socket completions run
# inline on the epoll thread (no thread-pool hop per answer; 12-18 instead of 15-200 us of CPU per request).
# The servers it starts run with the runtime's defaults (ServerProcess removes this variable).
DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet "$bench" http \
  --cli src/DeployGate.Cli/bin/Release/net10.0/deploygate.dll \
  --plaintext bench/DeployGate.Bench.Plaintext/bin/Release/net10.0/DeployGate.Bench.Plaintext.dll \
  --inprocess "$inprocess" --seconds "$seconds" --targets "$targets" --out "$out"
