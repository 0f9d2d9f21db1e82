#!/bin/sh
# Run every fuzz target for $SECS seconds (default 600), one after another, one job each.
# Usage (from the repository root): sh fuzz/run_campaign.sh [target ...]
SECS=${SECS:-600}
TARGETS=${*:-"authorize_request token_request introspect_revoke jws jwks client_metadata redirect_uri basic_auth pkce scope"}
mkdir -p fuzz/artifacts/logs
for t in $TARGETS; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/artifacts/$t"
    dict=""
    [ -f "fuzz/dicts/$t.dict" ] && dict="-dict=fuzz/dicts/$t.dict"
    echo "=== $t start $(date -u +%FT%TZ)" >> fuzz/artifacts/logs/campaign.log
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECS" -jobs=1 -workers=1 -rss_limit_mb=2048 -print_final_stats=1 $dict \
        > "fuzz/artifacts/logs/$t.log" 2>&1
    rc=$?
    # With -jobs=1 -workers=1 libFuzzer runs one worker whose output goes to ./fuzz-0.log.
    [ -f fuzz-0.log ] && mv fuzz-0.log "fuzz/artifacts/logs/$t.worker.log"
    echo "=== $t end $(date -u +%FT%TZ) rc=$rc" >> fuzz/artifacts/logs/campaign.log
done
