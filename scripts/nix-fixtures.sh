#!/usr/bin/env bash
# Regenerates test/fixtures/nix/*.json: what NixOS builds from nix/module.nix for each case in
# test/fixtures/nix/cases/, evaluated by ../shared/nix-eval with nixpkgs' lib alone, stamped with
# the sha256 of the module and of the case so that a stale fixture fails the tests.
# Usage: scripts/nix-fixtures.sh LIB_DIR   (LIB_DIR: the lib/ folder of a nixpkgs.lib checkout; never committed)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 LIB_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
eval_sh="$root/../shared/nix-eval/run.sh"
module_sha=$(sha256sum "$root/nix/module.nix" | cut -d' ' -f1)
for case in "$root"/test/fixtures/nix/cases/*.nix; do
  name=$(basename "$case" .nix)
  case_sha=$(sha256sum "$case" | cut -d' ' -f1)
  bash "$eval_sh" "$1" "$root/nix/module.nix" "$case" result |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const [m,c]=process.argv.slice(1);process.stdout.write(JSON.stringify({moduleSha256:m,caseSha256:c,result:JSON.parse(s)},null,2)+"\n")})' "$module_sha" "$case_sha" \
    > "$root/test/fixtures/nix/$name.json"
  echo "wrote test/fixtures/nix/$name.json"
done
