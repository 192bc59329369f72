#!/usr/bin/env bash
# Fuzzes twinstar's input parsers and its sans-IO agent:
#
#   fuzz/run.sh [SECONDS] [TARGET...]   SECONDS per target (default 120);
#                                       every target when none is named
#
# Targets (fuzz/fuzz_targets/):
#   parse_advert     VRRP adverts, as raw IPv4 datagrams and as messages
#   config_loader    configuration text: accepted or rejected with a location
#   control_request  control-socket requests carried out by a running agent,
#                    and responses as `twinstar status` reads and renders them
#   agent_inputs     arbitrary input sequences through one agent: adverts,
#                    carrier, checks, address workers, hooks, operator
#                    commands, reloads, a stop; its effects must stay
#                    consistent and a stop must finish
#
# fuzz/seeds/TARGET holds the committed seed corpus of each target (adverts
# from keepalived captures, the example configurations, protocol lines, input
# sequences); new inputs found go to fuzz/corpus/TARGET (not committed), and a
# crash leaves its input under fuzz/artifacts/TARGET with the command that
# replays it. Needs the nightly toolchain; installs cargo-fuzz if missing.
set -euo pipefail

seconds="${1:-120}"
shift || true
cd "$(dirname "$0")/.."

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(parse_advert config_loader control_request agent_inputs)
fi

# The library's etcd client is generated from protobuf at build time.
source tests/need.sh
install_missing protobuf-compiler:protoc

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

# One build of every target (they share the instrumented library).
cargo +nightly fuzz build
for target in "${targets[@]}"; do
    echo "==> fuzzing $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -- -max_total_time="$seconds" -print_final_stats=0
done
