#!/usr/bin/env bash
# Fuzz the VRRP advertisement parser: fuzz/run.sh [SECONDS] (default 120).
# Needs the nightly toolchain; installs cargo-fuzz from crates.io if missing.
set -euo pipefail

seconds="${1:-120}"
cd "$(dirname "$0")/.."

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

# New inputs go to fuzz/corpus/parse_advert; fuzz/seeds holds adverts built
# from the keepalived captures (mode byte, source, destination, message).
mkdir -p fuzz/corpus/parse_advert
cargo +nightly fuzz run parse_advert fuzz/corpus/parse_advert fuzz/seeds/parse_advert \
    -- -max_total_time="$seconds"
