#!/usr/bin/env bash
# Builds the deployable Azure Functions zip: host.json + one folder per function + the `deploygate`
# executable under bin/. Usage:
#   functions/publish.sh [--rid linux-x64] [--framework-dependent] [--out artifacts/functions]
# Default: a self-contained single-file executable for linux-x64 (the Functions custom-handler image has
# no .NET runtime). --framework-dependent publishes deploygate.dll and points host.json at `dotnet`
# (only for hosts that have the .NET 10 runtime; also what the repository's tests exercise offline).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
rid="linux-x64"
framework_dependent=0
out="$root/artifacts/functions"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rid) rid="$2"; shift 2 ;;
    --framework-dependent) framework_dependent=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "publish.sh: unknown argument \`$1\`" >&2; exit 2 ;;
  esac
done

stage="$out/app"
rm -rf "$stage"
mkdir -p "$stage/bin"

if [[ $framework_dependent -eq 1 ]]; then
  dotnet publish "$root/src/DeployGate.Cli/DeployGate.Cli.csproj" -c Release --self-contained false -o "$stage/bin"
else
  dotnet publish "$root/src/DeployGate.Cli/DeployGate.Cli.csproj" -c Release -r "$rid" --self-contained true \
    -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -o "$stage/bin"
fi

cp "$here/host.json" "$stage/host.json"
if [[ $framework_dependent -eq 1 ]]; then
  # Same host.json, but run `dotnet bin/deploygate.dll serve`.
  python3 - "$stage/host.json" <<'PY'
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
doc["customHandler"]["description"]["defaultExecutablePath"] = "dotnet"
doc["customHandler"]["description"]["arguments"] = ["bin/deploygate.dll", "serve"]
json.dump(doc, open(path, "w"), indent=2)
PY
fi

for dir in "$here"/*/; do
  name="$(basename "$dir")"
  if [[ -f "$dir/function.json" ]]; then
    mkdir -p "$stage/$name"
    cp "$dir/function.json" "$stage/$name/function.json"
  fi
done

zip_path="$out/deploygate-functions.zip"
rm -f "$zip_path"
(cd "$stage" && zip -qr "$zip_path" .)
echo "$zip_path"
