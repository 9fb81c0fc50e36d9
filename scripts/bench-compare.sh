#!/usr/bin/env bash
# bench-compare.sh — msgmigrate and Benthos side by side, measured fairly:
#
#   - one sink for both, in its own process: `msgmigrate sandbox --count-only` (strict: every item is
#     validated; it keeps counts, not payloads), its stats reset before and read after every run;
#   - one generated CSV (realistic rows: ~330 bytes, multi-line, multi-byte, 1500 interleaved routes);
#   - the same job: `msgmigrate run` of the reference job (builtin:csv-to-mykaarma, 8 in flight, batches
#     of 100, a fresh ledger each run) and Benthos with ../shared/bench/benthos/csv2hist.yaml, its first
#     mapping adapted to our columns and to the same item shape, in exact-batching mode (WINDOW = rows);
#   - the tools alternate, A B A B …, each under /usr/bin/time -v (peak RSS, CPU seconds, wall time).
#
# It prints per tool the median and range of items/s (items the sink acknowledged / the process's wall
# time), peak RSS and CPU seconds, the requests against the fewest the routes allow, and the median of
# the per-round ratio msgmigrate / Benthos. Every run is checked: each message acknowledged once.
#
# Usage:
#   BENTHOS=/work/benthos-anchor/benthos scripts/bench-compare.sh
#   ROWS=1000000 ROUNDS=3 LATENCY=20ms BENTHOS=… scripts/bench-compare.sh
# Build Benthos first, as ../shared/bench/README.md says:
#   cp -r /work/shared/bench/benthos /work/benthos-anchor && cd /work/benthos-anchor && go build -o benthos .
#
# Environment (defaults in brackets):
#   ROWS [100000]  ROUTES [1500]  ROUNDS [5]  LATENCY [0s]: the sandbox's latency per request
#   PORT [18089]: the sandbox's port on 127.0.0.1
#   BENTHOS: the Benthos binary; unset, only msgmigrate runs
#   BENTHOS_YAML [/work/shared/bench/benthos/csv2hist.yaml]: the job to adapt (read only; a copy is written)
#   MSGMIGRATE: a msgmigrate binary; unset, one is built from this checkout
#   HELPER: the msgmigrate binary that serves the sandbox and generates the input [MSGMIGRATE]; set it
#     to this checkout's build to measure an older MSGMIGRATE (one without sandbox --count-only)
#   WORK: the work directory (kept; a CSV of the same spec in it is reused) [a new temporary directory]
#   TOOLS [msgmigrate benthos]: which tools, in the order they alternate
set -euo pipefail

ROWS=${ROWS:-100000}
ROUTES=${ROUTES:-1500}
ROUNDS=${ROUNDS:-5}
LATENCY=${LATENCY:-0s}
PORT=${PORT:-18089}
BENTHOS_YAML=${BENTHOS_YAML:-/work/shared/bench/benthos/csv2hist.yaml}
WORK=${WORK:-$(mktemp -d -t msgmigrate-compare-XXXXXX)}
TOOLS=${TOOLS:-msgmigrate benthos}
BATCH=100
CONCURRENCY=8
SINK=http://127.0.0.1:$PORT
# The sandbox's credentials; the job and Benthos read the same.
export MYKAARMA_USER=${MYKAARMA_USER:-sandbox} MYKAARMA_PASSWORD=${MYKAARMA_PASSWORD:-sandbox}

die() { echo "bench-compare: $*" >&2; exit 1; }
for cmd in jq curl awk /usr/bin/time; do command -v "$cmd" >/dev/null || die "needs $cmd"; done
if [[ -z ${BENTHOS:-} ]]; then
	TOOLS=msgmigrate
	echo "BENTHOS is not set: msgmigrate only" >&2
elif [[ ! -x $BENTHOS ]]; then
	die "BENTHOS=$BENTHOS is not an executable (build it as ../shared/bench/README.md says)"
fi
mkdir -p "$WORK/data" "$WORK/runs"
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${MSGMIGRATE:-} ]]; then
	MSGMIGRATE=$WORK/msgmigrate
	(cd "$repo" && go build -o "$MSGMIGRATE" ./cmd/msgmigrate)
fi
HELPER=${HELPER:-$MSGMIGRATE}

# The sink, in its own process; stopped (by its pid) when the script ends.
if curl -fsS "$SINK/_sandbox/stats" >/dev/null 2>&1; then
	die "something already answers on $SINK: stop it, or set PORT"
fi
"$HELPER" sandbox --count-only --addr "127.0.0.1:$PORT" --latency "$LATENCY" >"$WORK/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -fsS "$SINK/_sandbox/stats" >/dev/null 2>&1 && break
	kill -0 "$sandbox_pid" 2>/dev/null || die "the sandbox did not start: $(cat "$WORK/sandbox.log")"
	sleep 0.1
done
curl -fsS "$SINK/_sandbox/stats" >/dev/null && kill -0 "$sandbox_pid" 2>/dev/null ||
	die "the sandbox does not answer on $SINK: $(cat "$WORK/sandbox.log")"

# One CSV and the reference job (reused when the spec is the same).
"$HELPER" bench --gen-only --sink "$SINK" --rows "$ROWS" --routes "$ROUTES" --dir "$WORK/data"
csv=$WORK/data/messages.csv
job=$WORK/data/bench.yaml
fewest=$(jq --argjson b "$BATCH" '[.per_route[] | (. + $b - 1) / $b | floor] | add' "$csv.spec.json")

# Benthos: the same job, the first mapping adapted to our columns and to the items csv-to-mykaarma
# makes (sourceUuid = uuid5 in our "csv" namespace, times as UTC with milliseconds, absent fields left
# out). Benthos has no HTML-to-text: tags are stripped and entities decoded, without line breaks.
benthos_yaml=$WORK/csv2hist.adapted.yaml
if [[ $TOOLS == *benthos* ]]; then
	# uuid5("csv", id) = uuid5 of id in the namespace uuid5(transform.Namespace, "csv").
	ns=412b0a69-9fc8-5316-9484-2f518b736217
	awk -v ns="$ns" '
		/^    - mapping: \|/ && !done {
			print
			print "        meta dept = this.department_uuid"
			print "        meta cust = this.customer_uuid"
			print "        root.sourceUuid = this.id.uuid_v5(\"" ns "\")"
			print "        root.sentOn = this.sent_at.ts_parse(\"2006-01-02T15:04:05Z07:00\").ts_format(\"2006-01-02T15:04:05.000Z\", \"UTC\")"
			print "        root.receivedOn = if this.created_at != \"\" { this.created_at.ts_parse(\"2006-01-02 15:04:05\").ts_format(\"2006-01-02T15:04:05.000Z\", \"UTC\") } else { deleted() }"
			print "        root.userUuid = if this.user_uuid != \"\" { this.user_uuid } else { deleted() }"
			print "        root.messageAttributes.body = if this.body_text != \"\" { this.body_text } else { this.body_html.re_replace_all(\"<[^>]*>\", \" \").unescape_html().trim() }"
			print "        root.messageAttributes.subject = if this.subject != \"\" { this.subject } else { deleted() }"
			print "        root.messageAttributes.protocol = match this.channel { \"email\" => \"EMAIL\", \"sms\" => \"TEXT\", \"phone\" => \"VOICE_CALL\", _ => \"TEXT\" }"
			print "        root.messageAttributes.type = if this.direction.lowercase() == \"outbound\" { \"OUTGOING\" } else { \"INCOMING\" }"
			print "        root.messageAttributes.purpose = \"F\""
			print "        root.messageAttributes.isManual = false"
			print "        root.messageAttributes.attachments = if this.attachment_url != \"\" { [ {\"fileURL\": this.attachment_url} ] } else { deleted() }"
			skip = 1; done = 1; next
		}
		skip && /^    - / { skip = 0 }
		skip && /^    # / { skip = 0 }
		!skip { print }
	' "$BENTHOS_YAML" >"$benthos_yaml"
	grep -q 'uuid_v5' "$benthos_yaml" || die "could not adapt $BENTHOS_YAML: no '    - mapping: |' block"

	# The same items? The first rows through both tools, compared field by field.
	mkdir -p "$WORK/shape"
	"$HELPER" bench --gen-only --rows 20 --routes "$ROUTES" --dir "$WORK/shape" 2>/dev/null
	"$MSGMIGRATE" preview "$WORK/shape/bench.yaml" -n 20 | grep -v '^#' | jq -c . >"$WORK/shape/msgmigrate.jsonl"
	sed '/^output:/,$d' "$benthos_yaml" >"$WORK/shape/benthos.yaml"
	printf 'output:\n  stdout:\n    codec: lines\n' >>"$WORK/shape/benthos.yaml"
	CSV_PATH=$WORK/shape/messages.csv WINDOW=20 "$BENTHOS" -c "$WORK/shape/benthos.yaml" 2>/dev/null |
		jq -c '.saveMessageRequestList[]' >"$WORK/shape/benthos.jsonl"
	echo "== the items of the first 20 rows, msgmigrate vs Benthos, by sourceUuid:"
	jq -rn --slurpfile a "$WORK/shape/msgmigrate.jsonl" --slurpfile b "$WORK/shape/benthos.jsonl" '
		def idx: map({key: .sourceUuid, value: .}) | from_entries;
		def flat: [paths(scalars) as $p | {key: ($p | map(tostring) | join(".")), value: getpath($p)}] | from_entries;
		($a | idx) as $A | ($b | idx) as $B |
		[($A + $B) | keys[] as $k | (($A[$k] // {}) | flat) as $x | (($B[$k] // {}) | flat) as $y |
			(($x + $y) | keys[]) as $f | select($x[$f] != $y[$f]) | {field: $f, m: $x[$f], b: $y[$f]}] |
		if length == 0 then "  identical (\($A | length) items)" else
			group_by(.field)[] |
			(map(select((.m | type) == "string" and (.m | gsub("\r\n"; "\n")) == .b)) | length) as $cr |
			(map(select((.m | type) != "string" or (.m | gsub("\r\n"; "\n")) != .b))) as $other |
			"  \(.[0].field) differs in \(length) of \($A | length) items: \($cr) only by the \\r of CRLF line ends (Benthos reads CSV with encoding/csv, which drops it)" +
			if ($other | length) > 0 then ", \($other | length) otherwise, e.g. msgmigrate \($other[0].m | tojson), Benthos \($other[0].b | tojson)" else "" end
		end'
fi

# The sandbox's CPU seconds so far: the sink's share of the two cores during a run.
ticks=$(getconf CLK_TCK)
sink_cpu() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$sandbox_pid/stat" 2>/dev/null || echo 0; }

# One run of one tool: the sink reset, the tool timed, the sink read.
results=$WORK/results.tsv
printf 'round\ttool\texit\twall_s\titems_per_s\tpeak_rss_mib\tcpu_s\trequests\titems\tunique\tduplicates\tmax_per_s\tledger_bytes\tsink_cpu_s\n' >"$results"
run_one() {
	local round=$1 tool=$2 out=$WORK/runs/$1.$2
	curl -fsS -X POST "$SINK/_sandbox/reset" >/dev/null
	local sink0
	sink0=$(sink_cpu)
	local status=0
	case $tool in
	msgmigrate)
		# A fresh ledger each run: the file, its WAL, its key index, and the
		# earlier report (beside a missing ledger, a run refuses to start).
		rm -rf "$WORK/data/bench.db" "$WORK/data/bench.db-wal" "$WORK/data/bench.db-shm" "$WORK/data/bench.db.keys" \
			"$WORK/data/bench.report.json" "$WORK/data/bench.failures.jsonl"
		/usr/bin/time -v -o "$out.time" "$MSGMIGRATE" run "$job" --no-progress >"$out.log" 2>&1 || status=$?
		;;
	benthos)
		CSV_PATH=$csv SINK_URL=$SINK SINK_USER=$MYKAARMA_USER SINK_PASS=$MYKAARMA_PASSWORD WINDOW=$ROWS \
			/usr/bin/time -v -o "$out.time" "$BENTHOS" -c "$benthos_yaml" >"$out.log" 2>&1 || status=$?
		;;
	esac
	curl -fsS "$SINK/_sandbox/stats" >"$out.stats.json"
	local ledger=0
	if [[ $tool == msgmigrate ]]; then
		# du counts what exists (a closed ledger may have no -wal) and fails on the rest.
		ledger=$({ du -cb "$WORK/data/bench.db" "$WORK/data/bench.db-wal" "$WORK/data/bench.db.keys" 2>/dev/null || true; } | awk 'END { print $1 + 0 }')
	fi
	local sink_s
	sink_s=$(awk -v a="$sink0" -v b="$(sink_cpu)" 'BEGIN { printf "%.2f", b - a }')
	awk -v round="$round" -v tool="$tool" -v status="$status" -v ledger="$ledger" -v sink_s="$sink_s" \
		-v stats="$(jq -r '[.requests, .items, .unique, .duplicates, .max_requests_per_second] | @tsv' "$out.stats.json")" '
		/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
		/Maximum resident set size/ { rss = $NF / 1024 }
		/User time \(seconds\)/ { cpu += $NF }
		/System time \(seconds\)/ { cpu += $NF }
		END {
			split(stats, s, "\t")
			printf "%s\t%s\t%s\t%.2f\t%.0f\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", round, tool, status, wall, s[3] / wall, rss, cpu, s[1], s[2], s[3], s[4], s[5], ledger, sink_s
		}' "$out.time" | tee -a "$results" | awk -F'\t' -v rows="$ROWS" '{
			printf "round %s %-10s %6.1fs %7.0f items/s  peak RSS %5.0f MiB  CPU %5.1fs (sink %5.2fs)  requests %s  unique %s  duplicates %s", $1, $2, $4, $5, $6, $7, $14, $8, $10, $11
			if ($3 != 0) printf "  EXIT %s", $3
			if ($10 != rows || $11 != 0) printf "  NOT EACH ONCE"
			printf "\n" }'
}

echo "== $ROWS rows, $ROUTES routes, latency $LATENCY, $ROUNDS rounds of: $TOOLS; load: $(uptime | sed 's/.*load average/load average/')"
echo "   work dir $WORK"
for round in $(seq "$ROUNDS"); do
	for tool in $TOOLS; do
		run_one "$round" "$tool"
	done
done
echo "   load after: $(uptime | sed 's/.*load average/load average/')"

# Medians and ranges, per tool; the ratio of each round's items/s.
awk -F'\t' -v fewest="$fewest" -v rows="$ROWS" -v latency="$LATENCY" -v conc="$CONCURRENCY" '
	function med(list,   n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		lo = a[1]; hi = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	NR == 1 { next }
	{
		tools[$2] = 1; ips[$2] = ips[$2] " " $5; rss[$2] = rss[$2] " " $6; cpu[$2] = cpu[$2] " " $7; scpu[$2] = scpu[$2] " " $14
		req[$2] = req[$2] " " $8; fill[$2] = fill[$2] " " ($8 ? $9 / $8 : 0); led[$2] = led[$2] " " $13 / rows
		per[$1, $2] = $5; percpu[$1, $2] = $7
		if ($3 != 0 || $10 != rows || $11 != 0) bad[$2]++
	}
	END {
		sec = latency
		if (sub(/ms$/, "", sec)) sec /= 1000; else sub(/s$/, "", sec)
		ceiling = sec > 0 ? conc * rows / fewest / sec : 0
		printf "\n== summary: median [range]; fewest requests the routes allow: %d", fewest
		if (ceiling) printf "; ceiling %d × rows / fewest / latency = %.0f items/s", conc, ceiling
		printf "\n"
		for (t in tools) {
			m = med(ips[t]); printf "%-10s items/s %.0f [%.0f–%.0f]", t, m, lo, hi
			if (ceiling) printf " (%.0f%% of the ceiling)", 100 * m / ceiling
			m = med(rss[t]); printf " · peak RSS %.0f MiB [%.0f–%.0f]", m, lo, hi
			m = med(cpu[t]); printf " · CPU %.1fs [%.1f–%.1f]", m, lo, hi
			m = med(scpu[t]); printf " (the sink: %.2fs)", m
			m = med(req[t]); printf " · requests %.0f [%.0f–%.0f] = %.3f × fewest", m, lo, hi, m / fewest
			m = med(fill[t]); printf " · fill %.1f", m
			if (t == "msgmigrate") { m = med(led[t]); printf " · ledger %.0f bytes a record", m }
			if (bad[t]) printf " · %d runs NOT each once or failed", bad[t]
			printf "\n"
		}
		if (("msgmigrate" in tools) && ("benthos" in tools)) {
			list = ""
			for (k in per) { split(k, kk, SUBSEP); if (kk[2] == "msgmigrate" && ((kk[1], "benthos") in per)) list = list " " per[k] / per[kk[1], "benthos"] }
			m = med(list); printf "ratio msgmigrate / Benthos, items/s, per round: median ×%.2f [×%.2f–×%.2f]\n", m, lo, hi
			# CPU seconds for the same work hold better than items/s on a busy machine.
			list = ""
			for (k in percpu) { split(k, kk, SUBSEP); if (kk[2] == "msgmigrate" && ((kk[1], "benthos") in percpu) && percpu[k] > 0) list = list " " percpu[kk[1], "benthos"] / percpu[k] }
			m = med(list); printf "ratio Benthos / msgmigrate, CPU seconds, per round: median ×%.2f [×%.2f–×%.2f]\n", m, lo, hi
		}
	}' "$results"
echo "(per run: $results)"
