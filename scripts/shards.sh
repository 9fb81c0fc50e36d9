#!/usr/bin/env bash
# shards.sh — N shards of a job at once, as an Indexed Job runs them, against a
# msgmigrate sandbox in another process; then the sink's own counts.
#
#   msgmigrate sandbox --count-only --latency 20ms --addr 127.0.0.1:18090 &
#   msgmigrate bench --sink http://127.0.0.1:18090 --rows 1000000 --dir /tmp/b/1m --gen-only
#   SHARDS=8 scripts/shards.sh /tmp/b/1m/bench.yaml http://127.0.0.1:18090
#
# Each shard is `msgmigrate run JOB --shard I/N --parallelism N` with a fresh
# ledger (the job's state, one file per shard). It prints the wall time, the
# sink's requests and items, and each message acknowledged once or not.
set -euo pipefail
job=${1:?usage: shards.sh JOB SANDBOX_URL}
sink=${2:?usage: shards.sh JOB SANDBOX_URL}
SHARDS=${SHARDS:-8}
MSGMIGRATE=${MSGMIGRATE:-msgmigrate}
state=$(sed -n 's/^state: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$job")
[[ -n $state ]] || { echo "shards.sh: no state: line in $job" >&2; exit 1; }
# Each shard's ledger (<state without .db>.shard-I-of-N.db, its WAL and key
# index), report and failures file: every run starts from nothing.
rm -rf "${state%.db}".shard-*-of-"$SHARDS".*
curl -fsS -X POST "$sink/_sandbox/reset" >/dev/null
t0=$(date +%s.%N)
pids=()
for ((i = 0; i < SHARDS; i++)); do
	"$MSGMIGRATE" run "$job" --no-progress --shard "$i/$SHARDS" --parallelism "$SHARDS" \
		>"$state.shard-$i.out" 2>&1 &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
t1=$(date +%s.%N)
stats=$(curl -fsS "$sink/_sandbox/stats")
echo "$SHARDS shards: exit $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s wall"
jq -r '"the sink: \(.requests) requests, \(.items) items, \(.unique) acknowledged once, \(.duplicates) twice or more, \(.faulted) faulted"' <<<"$stats"
grep -h "read .* loaded" "$state".shard-*.out | awk '{l+=$5; f+=$11} END {print "shards loaded " l ", failed " f}'
exit $rc
