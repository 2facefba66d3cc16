#!/usr/bin/env bash
# Benchmark the gateway's MQTT broker against mosquitto, same machine, same
# load generator (bench/mqttload), same parameters, in one run.
#
#   bench/broker/run.sh            # from the repository root
#   QUICK=1 bench/broker/run.sh    # smaller runs
#   IDLE=10000 bench/broker/run.sh # idle connections for the RSS row (0: skip)
#
# Prints Markdown table rows: for each broker msg/s, latency p50 / p99,
# missing messages; the last column is edgegw / mosquitto.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/broker" ./bench/broker
go build -o "$tmp/mqttload" ./bench/mqttload

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Our broker: same queue and in-flight limits as the mosquitto config below
# (queues large enough that throughput runs measure delivery, not drops).
"$tmp/broker" -addr 127.0.0.1:0 -max-inflight 32 -max-queued 100000 >"$tmp/broker.addr" 2>"$tmp/broker.log" &
ours=$!
pids="$pids $ours"

mport=$(free_port)
cat >"$tmp/mosquitto.conf" <<CONF
user root
listener $mport 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 32
max_queued_messages 100000
log_dest none
CONF
mosquitto -c "$tmp/mosquitto.conf" &
mosq=$!
pids="$pids $mosq"

i=0
while [ ! -s "$tmp/broker.addr" ] || ! (exec 3<>/dev/tcp/127.0.0.1/"$mport") 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "brokers did not start" >&2; exit 1; }
	sleep 0.1
done
oaddr=$(cat "$tmp/broker.addr")
T="-target edgegw=tcp://$oaddr -target mosquitto=tcp://127.0.0.1:$mport -pids edgegw=$ours,mosquitto=$mosq"

n=${N:-20000}
[ -n "${QUICK:-}" ] && n=5000
echo "edgegw pid $ours on $oaddr, mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') pid $mosq on 127.0.0.1:$mport" >&2
L="$tmp/mqttload"
# Idle connections first, while both brokers are fresh (a heap grown by the
# load runs would hide the per-connection cost).
idle=${IDLE:-10000}
if [ "$idle" -gt 0 ]; then
	echo "| idle connections | edgegw RSS | edgegw per conn | mosquitto RSS | mosquitto per conn | ratio |"
	echo "|---|---|---|---|---|---|"
	$L $T -idle "$idle"
fi
echo
echo "| scenario | edgegw msg/s | edgegw p50 / p99 | missing | edgegw msg per CPU-s | mosquitto msg/s | mosquitto p50 / p99 | missing | mosquitto msg per CPU-s | msg/s ratio | msg per CPU-s ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
$L $T -label "QoS 0, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 0 -n "$n"
$L $T -label "QoS 1, 4 pub -> 1 sub, 64 B" -pubs 4 -subs 1 -qos 1 -n $((n / 2))
$L $T -label "QoS 0 fan-out, 1 pub -> 8 sub, 64 B" -pubs 1 -subs 8 -qos 0 -n $((n / 2))
$L $T -label "QoS 1 fan-out, 1 pub -> 8 sub, 64 B" -pubs 1 -subs 8 -qos 1 -n $((n / 4))
$L $T -label "QoS 1 latency at 1000 msg/s, 1 pub -> 1 sub" -pubs 1 -subs 1 -qos 1 -n $((n / 4)) -rate 1000
$L $T -label "QoS 1 latency at 4 x 2000 msg/s, 4 pub -> 1 sub" -pubs 4 -subs 1 -qos 1 -n $((n / 4)) -rate 2000
$L $T -label "QoS 0 latency at 4 x 2000 msg/s, 4 pub -> 4 sub" -pubs 4 -subs 4 -qos 0 -n $((n / 4)) -rate 2000
