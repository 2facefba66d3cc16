#!/usr/bin/env bash
# Benchmark the gateway's MQTT broker against mosquitto, same machine, same
# load generator (bench/mqttload), same parameters, in one run.
#
#   bench/broker/run.sh             # from the repository root
#   QUICK=1 bench/broker/run.sh     # smaller runs
#   IDLE=10000 bench/broker/run.sh  # idle connections for the RSS row (0: skip)
#   BURST=10000 bench/broker/run.sh # messages per publisher in the default-settings burst
#   REPEAT=3 bench/broker/run.sh    # runs per MQTT 5.0 row (targets in turn; medians)
#   V5ONLY=1 bench/broker/run.sh    # only the MQTT 5.0 vs 3.1.1 tables
#   SLOWONLY=1 bench/broker/run.sh  # only the slow-subscriber table
#
# Two pairs of brokers run: each broker with its DEFAULT settings (the
# gateway's config defaults; mosquitto 2.0's) for the burst rows, and each
# with the SAME large limits (the unlimited-queue comparison) for the
# throughput and latency rows. Prints Markdown table rows: for each broker
# msg/s, latency p50 / p99, lost messages; the ratio columns are
# edgegw / mosquitto.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	cat "$tmp"/*.log >&2 2>/dev/null || true # our broker's warnings (stalls, drops), if any
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/broker" ./bench/broker
go build -o "$tmp/mqttload" ./bench/mqttload

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_pair NAME OURFLAGS MOSQUITTO_EXTRA: starts our broker and mosquitto
# and sets T_NAME to the mqttload target flags for them.
start_pair() {
	local name=$1 ourflags=$2 mosqextra=$3
	# shellcheck disable=SC2086
	"$tmp/broker" -addr 127.0.0.1:0 $ourflags >"$tmp/$name.addr" 2>"$tmp/$name.log" &
	local ours=$!
	pids="$pids $ours"
	local mport
	mport=$(free_port)
	printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n%b' "$mport" "$mosqextra" >"$tmp/$name.conf"
	mosquitto -c "$tmp/$name.conf" &
	local mosq=$!
	pids="$pids $mosq"
	local i=0
	while [ ! -s "$tmp/$name.addr" ] || ! (exec 3<>/dev/tcp/127.0.0.1/"$mport") 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "brokers did not start" >&2; exit 1; }
		sleep 0.1
	done
	printf -v "O_$name" '%s' "$(cat "$tmp/$name.addr")" # for slow_rows
	printf -v "M_$name" '%s' "$mport"
	printf -v "P_$name" '%s' "$ours $mosq"
	printf -v "T_$name" '%s' "-target edgegw=tcp://$(cat "$tmp/$name.addr") -target mosquitto=tcp://127.0.0.1:$mport -pids edgegw=$ours,mosquitto=$mosq"
	# The same brokers at MQTT 5.0 and 3.1.1 from one client (mqttload's raw
	# client on broker/packet): the first ratio column is edgegw v5 / v3.1.1.
	local a
	a=$(cat "$tmp/$name.addr")
	printf -v "V_$name" '%s' "-target edgegw-v5=mqtt5://$a -target edgegw-v311=mqtt311://$a -target mosquitto-v5=mqtt5://127.0.0.1:$mport -target mosquitto-v311=mqtt311://127.0.0.1:$mport -pids edgegw-v5=$ours,edgegw-v311=$ours,mosquitto-v5=$mosq,mosquitto-v311=$mosq"
	echo "$name: edgegw pid $ours on $(cat "$tmp/$name.addr"), mosquitto pid $mosq on 127.0.0.1:$mport" >&2
}

# Default settings: ours as `gateway run` without [broker] limits (max_inflight
# 20, max_queued_messages 1000, max_queued_bytes 16MB, stall_timeout 10s,
# max_memory 128MB, max_connections 1000); mosquitto 2.0 with its own
# defaults (max_inflight_messages 20, max_queued_messages 1000).
start_pair dflt "" ""
# Equal limits, queues large enough that throughput runs measure delivery
# rather than flow control or drops.
start_pair equal "-max-inflight 32 -max-queued 100000 -max-queued-bytes 67108864 -max-memory 1073741824 -max-connections 0" \
	'max_inflight_messages 32\nmax_queued_messages 100000\n'

n=${N:-20000}
burst=${BURST:-10000}
if [ -n "${QUICK:-}" ]; then n=5000; burst=2500; fi
echo "mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}')" >&2
L="$tmp/mqttload"
H="| scenario | edgegw msg/s | lost | edgegw p50 / p99 | edgegw msg per CPU-s | mosquitto msg/s | lost | mosquitto p50 / p99 | mosquitto msg per CPU-s | msg/s ratio | msg per CPU-s ratio |"
S="|---|---|---|---|---|---|---|---|---|---|---|"

repeat=${REPEAT:-3}
if [ -n "${V5ONLY:-}" ] || [ -n "${SLOWONLY:-}" ]; then IDLE=0; fi

# slow_rows PAIR PUBS N LABEL MQTTLOAD-ARGS...: on each broker of PAIR, a slow
# QoS 1 subscriber (mosquitto_sub -q 1 on mqttload/#, stopped with SIGSTOP
# for STOPFOR, default 5s, half a second into the run) next to mqttload's fast
# subscribers. Prints per broker the fast subscribers' row (msg/s, lost,
# latency, broker CPU) and what the slow one received of the PUBS x N
# messages once it caught up.
slow_rows() {
	local pair=$1 pubs=$2 count=$3 label=$4
	shift 4
	local o="O_$pair" m="M_$pair" p="P_$pair"
	local addrs=("${!o}" "127.0.0.1:${!m}") names=(edgegw mosquitto)
	read -r -a bpids <<<"${!p}"
	for i in 0 1; do
		local b=${names[$i]} hp=${addrs[$i]}
		local out="$tmp/slow.$b"
		mosquitto_sub -h "${hp%:*}" -p "${hp##*:}" -q 1 -t 'mqttload/#' -i "slow-$b" -F '%t' >"$out" 2>/dev/null &
		local sp=$!
		sleep 1 # mosquitto_sub has subscribed (it prints nothing until a message)
		local row
		row=$($L -target "$b=tcp://$hp" -pids "$b=${bpids[$i]}" -stop "$b=$sp" -stop-for "${STOPFOR:-5s}" \
			-pubs "$pubs" -n "$count" -label "$label" "$@")
		# The slow subscriber catches up: wait until its output stops growing for 3 s.
		local last=-1 now quiet=0
		while [ $quiet -lt 30 ]; do
			now=$(wc -l <"$out")
			if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
			sleep 0.1
		done
		kill "$sp" 2>/dev/null || true
		wait "$sp" 2>/dev/null || true
		local got want=$((pubs * count))
		got=$(grep -vc '/flush$' "$out" || true)
		echo "$row" | awk -v b="$b" -v got="$got" -v lost=$((want - got)) -F'|' \
			'{gsub(/^ +| +$/, "", $2); printf "| %s | %s |%s|%s|%s|%s| %d | %d |\n", $2, b, $3, $4, $5, $6, got, lost}'
	done
}

slow_table() {
	echo
	echo "A slow QoS 1 subscriber, default settings (mosquitto_sub -q 1 stopped for ${STOPFOR:-5s}):"
	echo
	echo "| scenario | broker | fast subscribers msg/s | lost | p50 / p99 | broker msg per CPU-s | slow subscriber received | slow subscriber lost |"
	echo "|---|---|---|---|---|---|---|---|"
	slow_rows dflt 4 "$burst" "QoS 1, 4 pub (windows of 100) -> 3 fast sub + 1 slow, 64 B" -subs 3 -qos 1 -window 100
	slow_rows dflt 4 "$burst" "QoS 0 pub, 4 pub -> 3 fast sub + 1 slow (QoS 1 subscription), 64 B" -subs 3 -qos 0
}
if [ -n "${SLOWONLY:-}" ]; then
	slow_table
	exit 0
fi

# Idle connections first, while both brokers are fresh (a heap grown by the
# load runs would hide the per-connection cost).
idle=${IDLE:-10000}
if [ "$idle" -gt 0 ]; then
	echo "| idle connections | edgegw RSS | edgegw per conn | mosquitto RSS | mosquitto per conn | ratio |"
	echo "|---|---|---|---|---|---|"
	# shellcheck disable=SC2086
	$L $T_equal -idle "$idle"
fi

if [ -z "${V5ONLY:-}" ]; then
echo
echo "Default settings (each broker's own defaults):"
echo
echo "$H"
echo "$S"
# shellcheck disable=SC2086
{
	$L $T_dflt -label "burst: QoS 1, 4 pub (windows of 100) -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 1 -n "$burst" -window 100
	$L $T_dflt -label "burst: QoS 2, 4 pub (windows of 100) -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 2 -n $((burst / 4)) -window 100
	$L $T_dflt -label "burst: QoS 0, 4 pub -> 1 sub, 64 B (QoS 0 may be dropped)" -pubs 4 -subs 1 -qos 0 -n "$burst"
}

slow_table

echo
echo "Equal limits (32 in flight, 100000 queued):"
echo
echo "$H"
echo "$S"
# shellcheck disable=SC2086
{
	$L $T_equal -label "QoS 0, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 0 -n "$n"
	$L $T_equal -label "QoS 1, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 1 -n $((n / 2))
	$L $T_equal -label "QoS 0 fan-out, 1 pub -> 8 sub, 64 B" -pubs 1 -subs 8 -qos 0 -n $((n / 2))
	$L $T_equal -label "QoS 1 fan-out, 1 pub -> 8 sub, 64 B" -pubs 1 -subs 8 -qos 1 -n $((n / 4))
	$L $T_equal -label "QoS 1 latency at 1000 msg/s, 1 pub -> 1 sub" -pubs 1 -subs 1 -qos 1 -n $((n / 4)) -rate 1000
	$L $T_equal -label "QoS 1 latency at 4 x 2000 msg/s, 4 pub -> 1 sub" -pubs 4 -subs 1 -qos 1 -n $((n / 4)) -rate 2000
	$L $T_equal -label "QoS 0 latency at 4 x 2000 msg/s, 4 pub -> 4 sub" -pubs 4 -subs 4 -qos 0 -n $((n / 4)) -rate 2000
}

fi

# MQTT 5.0 against 3.1.1: the four targets (edgegw v5, edgegw v3.1.1,
# mosquitto v5, mosquitto v3.1.1) run once unmeasured (a broker's first
# run grows its heap), then in turn, REPEAT times, and each column is the
# median. With -props the v5 publishers put two user
# properties and a message expiry interval on every message (the v3.1.1
# ones cannot).
V5H="| scenario | edgegw v5 msg/s | lost | p50 / p99 | msg per CPU-s | edgegw v3.1.1 msg/s | lost | p50 / p99 | msg per CPU-s | mosquitto v5 msg/s | lost | p50 / p99 | msg per CPU-s | mosquitto v3.1.1 msg/s | lost | p50 / p99 | msg per CPU-s | v5/v3.1.1 msg/s | v5/v3.1.1 msg per CPU-s |"
V5S="|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo
echo "MQTT 5.0 vs 3.1.1, default settings, medians of $repeat runs (ratios: edgegw v5 / edgegw v3.1.1):"
echo
echo "$V5H"
echo "$V5S"
# shellcheck disable=SC2086
{
	$L $V_dflt -repeat "$repeat" -warmup -label "burst: QoS 1, 4 pub (windows of 100) -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 1 -n "$burst" -window 100
	$L $V_dflt -repeat "$repeat" -warmup -props -label "burst: QoS 1, 4 pub (windows of 100) -> 1 sub, 64 B, v5 with properties" -pubs 4 -subs 1 -qos 1 -n "$burst" -window 100
}

echo
echo "MQTT 5.0 vs 3.1.1, equal limits, medians of $repeat runs (ratios: edgegw v5 / edgegw v3.1.1):"
echo
echo "$V5H"
echo "$V5S"
# shellcheck disable=SC2086
{
	$L $V_equal -repeat "$repeat" -warmup -label "QoS 0, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 0 -n "$n"
	$L $V_equal -repeat "$repeat" -warmup -props -label "QoS 0, 4 pub -> 1 sub, 64 B, v5 with properties" -pubs 4 -subs 1 -qos 0 -n "$n"
	$L $V_equal -repeat "$repeat" -warmup -label "QoS 1, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 1 -n $((n / 2))
	$L $V_equal -repeat "$repeat" -warmup -props -label "QoS 1, 4 pub -> 1 sub, 64 B, v5 with properties" -pubs 4 -subs 1 -qos 1 -n $((n / 2))
	$L $V_equal -repeat "$repeat" -warmup -label "QoS 1 fan-out, 1 pub -> 8 sub, 64 B" -pubs 1 -subs 8 -qos 1 -n $((n / 4))
	$L $V_equal -repeat "$repeat" -warmup -props -label "QoS 1 fan-out, 1 pub -> 8 sub, 64 B, v5 with properties" -pubs 1 -subs 8 -qos 1 -n $((n / 4))
}
