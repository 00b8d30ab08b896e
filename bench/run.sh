#!/usr/bin/env bash
# Side-by-side PostgreSQL throughput harness for gatehouse.
#
# Starts, on 127.0.0.1 only and under one temporary directory:
#   - a throwaway PostgreSQL 15 (fsync=off, scram auth, max_connections 100),
#     initialised with `pgbench -i -s $SCALE`;
#   - pgbouncer (session pool) as the reference proxy;
#   - `gatehouse up` (gateway + embedded connector in one process);
#   - split mode: `gatehouse gateway` + `gatehouse connector` joined over the
#     mutual-TLS tunnel;
# then runs pgbench against every target, alternating the targets over
# $ROUNDS rounds, and prints TPS per round, the median, and the ratio of the
# median to the direct connection's median. Everything it started is stopped
# and removed on exit (normal, error or Ctrl-C).
#
# Environment (all optional):
#   RULES=1            load a statement policy into gatehouse up (see RULES below)
#   MASK=1             attach a masking profile to gatehouse up (see MASK below)
#   DURATION=20        seconds per pgbench run for the "simple" and "prepared" modes
#   C_DURATION=10      seconds per pgbench run for the "connect" mode (-C)
#   ROUNDS=3           rounds; each round runs every target once, in a rotated order
#   MODES="simple prepared connect"
#                      simple   = pgbench -S -M simple
#                      prepared = pgbench -S -M prepared
#                      connect  = pgbench -S -C (a new connection per transaction)
#   TARGETS="direct pgbouncer gh-up gh-up-tls gh-split"
#                      (also gh-up-norows: gatehouse up on a connection that
#                      keeps no result rows in its recordings)
#   CLIENTS=8 THREADS=2 SCALE=10
#   PROFILE=1          after the rounds, perf-record `gatehouse up` under
#                      pgbench -S for PROFILE_SECONDS (default 15) and print the
#                      top functions (needs perf; skipped with a note otherwise)
#   GH_LOG_LEVEL=info  log level of the gatehouse processes
#   RESULTS_DIR=bench/results/<UTC timestamp>
#                      where the table, the raw pgbench output, logs and the
#                      profile are kept (the temporary directory is removed)
#   KEEP_TMP=1         keep the temporary directory (for debugging)
#   GATEHOUSE_BIN=...  use this binary instead of building bin/gatehouse
set -euo pipefail

DURATION=${DURATION:-20}
# RULES=1 loads a realistic statement policy (DESIGN.md's example deny
# rules, none of which matches pgbench -S) into `gatehouse up`, to measure
# the cost of classifying every statement.
RULES=${RULES:-0}
RULES_YAML=""
if [[ $RULES == 1 ]]; then
	RULES_YAML='    rules:
      - match: {statement: [drop, truncate, alter, create, grant, revoke]}
        action: deny
        reason: schema changes go through migrations
      - match: {statement: [update, delete], missing_where: true}
        action: deny
      - match: {function: [pg_read_file, pg_read_binary_file, lo_import, lo_export, dblink_exec]}
        action: deny
      - match: {statement: [copy_from, merge]}
        action: deny'
fi
# MASK=1 attaches a masking profile with every built-in detector and two
# column rules (neither of which matches pgbench's tables) to gatehouse up:
# the cost of masking when there is nothing to mask.
MASK=${MASK:-0}
MASK_POLICY=""
MASK_YAML=""
if [[ $MASK == 1 ]]; then
	MASK_POLICY='    masking: [pii]'
	MASK_YAML='masking:
  pii:
    columns:
      - {match: customers.ssn, with: redact}
      - {match: "*.email", with: partial}
    detect: [credit_card, email, phone, us_ssn, iban, ipv4, jwt, aws_key, private_key]'
fi
C_DURATION=${C_DURATION:-10}
ROUNDS=${ROUNDS:-3}
MODES=${MODES:-simple prepared connect}
TARGETS=${TARGETS:-direct pgbouncer gh-up gh-up-tls gh-split}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=${PROFILE_SECONDS:-15}
GH_LOG_LEVEL=${GH_LOG_LEVEL:-info}
KEEP_TMP=${KEEP_TMP:-0}

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups)
PGPW=bench-secret

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/$STAMP}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (PostgreSQL and pgbouncer are started as the postgres user with setpriv)"
for b in "$PGBIN/initdb" "$PGBIN/postgres" pgbench pg_isready psql pgbouncer setpriv; do
	command -v "$b" >/dev/null || die "$b not found (make deps installs postgresql-15 and pgbouncer)"
done
id postgres >/dev/null 2>&1 || die "no postgres OS user (install postgresql-15)"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 755 "$T"
mkdir -p "$RESULTS_DIR"

# ---------------------------------------------------------------- cleanup
# PIDs we started, in start order; stopped in reverse order.
PIDS=()
PG_PID=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	local i pid
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	done
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid did not stop within 10s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	if [[ -n $PG_PID ]]; then
		# setpriv execs, so this is the postmaster; SIGINT is a fast shutdown.
		pid=$PG_PID
		kill -INT "$pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	# Keep the logs next to the results.
	for f in "$T"/*.log; do [[ -f $f ]] && cp "$f" "$RESULTS_DIR/" 2>/dev/null; done
	if [[ $KEEP_TMP == 1 ]]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command in the background and wait for it, so that a signal to the
# script runs the cleanup at once instead of after the command.
run_wait() {
	"$@" &
	local pid=$!
	PIDS+=("$pid")
	local rc=0
	wait "$pid" || rc=$?
	unset 'PIDS[${#PIDS[@]}-1]'
	return "$rc"
}

free_port() {
	# Ask the kernel for a free port; a small race is acceptable on loopback.
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_tcp() { # host port seconds
	local end=$((SECONDS + $3))
	until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.05
	done
}

proc_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
proc_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
proc_cpu_s() { # utime+stime in seconds
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- build
want_target() { [[ " $TARGETS " == *" $1 "* ]]; }
want_gh() { want_target gh-up || want_target gh-up-tls || want_target gh-up-norows || want_target gh-split; }
GH=${GATEHOUSE_BIN:-}
if [[ -z $GH ]] && want_gh; then
	log "building bin/gatehouse"
	(cd "$REPO" && go build -o bin/gatehouse ./cmd/gatehouse) || die "go build ./cmd/gatehouse failed"
	GH=$REPO/bin/gatehouse
fi
if want_gh; then [[ -x $GH ]] || die "$GH is not executable"; fi

# ---------------------------------------------------------------- PostgreSQL
PGPORT=$(free_port)
mkdir -p "$T/pg"
chown postgres: "$T/pg"
echo "$PGPW" >"$T/pg/pw"
chown postgres: "$T/pg/pw"
log "initdb"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$T/pg/data" -U postgres --pwfile="$T/pg/pw" \
	--auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions -E UTF8 --locale=C \
	>"$T/initdb.log" 2>&1 || { cat "$T/initdb.log" >&2; die "initdb failed"; }
# initdb creates pgdata as postgres; the parent must be traversable.
touch "$T/postgres.log"
chown postgres: "$T/postgres.log"
log "starting PostgreSQL on 127.0.0.1:$PGPORT"
"${AS_PG[@]}" "$PGBIN/postgres" -D "$T/pg/data" -k "$T/pg" -p "$PGPORT" -h 127.0.0.1 \
	-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
	>"$T/postgres.log" 2>&1 &
PG_PID=$!
end=$((SECONDS + 30))
until pg_isready -q -h 127.0.0.1 -p "$PGPORT"; do
	((SECONDS < end)) || { cat "$T/postgres.log" >&2; die "PostgreSQL did not become ready"; }
	sleep 0.05
done
export PGPASSWORD=$PGPW
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE bench" >/dev/null
log "pgbench -i -s $SCALE"
run_wait pgbench -i -s "$SCALE" -q -h 127.0.0.1 -p "$PGPORT" -U postgres bench >"$T/pgbench-init.log" 2>&1 ||
	{ cat "$T/pgbench-init.log" >&2; die "pgbench -i failed"; }
unset PGPASSWORD

# ---------------------------------------------------------------- pgbouncer
BPORT=$(free_port)
mkdir -p "$T/pgbouncer"
cat >"$T/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $T/pgbouncer/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
logfile = $T/pgbouncer.log
EOF
printf '"postgres" "%s"\n' "$PGPW" >"$T/pgbouncer/userlist.txt"
chown -R postgres: "$T/pgbouncer"
touch "$T/pgbouncer.log"
chown postgres: "$T/pgbouncer.log"
log "starting pgbouncer on 127.0.0.1:$BPORT"
"${AS_PG[@]}" pgbouncer "$T/pgbouncer/pgbouncer.ini" >>"$T/pgbouncer.log" 2>&1 &
BOUNCER_PID=$!
PIDS+=("$BOUNCER_PID")
wait_tcp 127.0.0.1 "$BPORT" 20 || { cat "$T/pgbouncer.log" >&2; die "pgbouncer did not start"; }

# ---------------------------------------------------------------- gatehouse up
UP_PID="" GW_PID="" CONN_PID=""

wait_file() { # file seconds pid
	local end=$((SECONDS + $2))
	until [[ -s $1 ]]; do
		kill -0 "$3" 2>/dev/null || return 1
		((SECONDS < end)) || return 1
		sleep 0.05
	done
}

# Retry a command until it succeeds or the deadline passes; prints its stdout.
retry() { # seconds cmd...
	local end=$((SECONDS + $1)) out
	shift
	while :; do
		if out=$("$@" 2>>"$T/retry.log"); then
			printf '%s\n' "$out"
			return 0
		fi
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

if want_target gh-up || want_target gh-up-tls || want_target gh-up-norows; then
	UP_API=$(free_port) UP_PG=$(free_port)
	mkdir -p "$T/gh-up"
	cat >"$T/gh-up/gatehouse.yaml" <<EOF
data_dir: $T/gh-up/data
log: {level: $GH_LOG_LEVEL}
gateway:
  api: 127.0.0.1:$UP_API
  postgres: 127.0.0.1:$UP_PG
  allow_plaintext: true
connections:
  - name: bench
    type: postgres
    connector: embedded
    address: 127.0.0.1:$PGPORT
    database: bench
    username: postgres
    password: $PGPW
    tls: disable
  - name: bench-norows
    type: postgres
    connector: embedded
    address: 127.0.0.1:$PGPORT
    database: bench
    username: postgres
    password: $PGPW
    tls: disable
    recording: {rows: 0}
policies:
  - name: bench
    subjects: [group:bench]
    connections: [bench, bench-norows]
    access: allow
$RULES_YAML
$MASK_POLICY
$MASK_YAML
EOF
	log "starting gatehouse up (postgres 127.0.0.1:$UP_PG, api 127.0.0.1:$UP_API)"
	"$GH" up --config "$T/gh-up/gatehouse.yaml" >"$T/gatehouse-up.log" 2>&1 &
	UP_PID=$!
	PIDS+=("$UP_PID")
	wait_file "$T/gh-up/data/admin.token" 30 "$UP_PID" || { cat "$T/gatehouse-up.log" >&2; die "gatehouse up did not write its admin token"; }
	wait_tcp 127.0.0.1 "$UP_PG" 30 || { cat "$T/gatehouse-up.log" >&2; die "gatehouse up is not listening on $UP_PG"; }
	UP_TOKEN=$(retry 20 "$GH" tokens issue --gateway "http://127.0.0.1:$UP_API" --token "$(cat "$T/gh-up/data/admin.token")" \
		--identity bench-runner --groups bench --ttl 2h) || { cat "$T/retry.log" "$T/gatehouse-up.log" >&2; die "could not issue a token from gatehouse up"; }
fi

# ---------------------------------------------------------------- split mode
if want_target gh-split; then
	GW_API=$(free_port) GW_PG=$(free_port) GW_TUN=$(free_port)
	mkdir -p "$T/gh-gw" "$T/gh-conn"
	cat >"$T/gh-gw/gatehouse.yaml" <<EOF
data_dir: $T/gh-gw/data
log: {level: $GH_LOG_LEVEL}
gateway:
  api: 127.0.0.1:$GW_API
  postgres: 127.0.0.1:$GW_PG
  tunnel: 127.0.0.1:$GW_TUN
  allow_plaintext: true
connections:
  - name: bench
    type: postgres
    connector: dc1
    database: bench
policies:
  - name: bench
    subjects: [group:bench]
    connections: [bench]
    access: allow
EOF
	log "starting gatehouse gateway (postgres 127.0.0.1:$GW_PG, api 127.0.0.1:$GW_API, tunnel 127.0.0.1:$GW_TUN)"
	"$GH" gateway --config "$T/gh-gw/gatehouse.yaml" >"$T/gatehouse-gateway.log" 2>&1 &
	GW_PID=$!
	PIDS+=("$GW_PID")
	wait_file "$T/gh-gw/data/admin.token" 30 "$GW_PID" || { cat "$T/gatehouse-gateway.log" >&2; die "gatehouse gateway did not write its admin token"; }
	wait_tcp 127.0.0.1 "$GW_API" 30 || { cat "$T/gatehouse-gateway.log" >&2; die "gatehouse gateway API is not listening"; }
	GW_ADMIN=$(cat "$T/gh-gw/data/admin.token")
	JOIN=$(retry 20 "$GH" connectors join-token --gateway "http://127.0.0.1:$GW_API" --token "$GW_ADMIN" --name dc1 --ttl 1h) ||
		{ cat "$T/retry.log" "$T/gatehouse-gateway.log" >&2; die "could not create a join token"; }
	cat >"$T/gh-conn/gatehouse.yaml" <<EOF
data_dir: $T/gh-conn/data
log: {level: $GH_LOG_LEVEL}
connector:
  name: dc1
  gateway: 127.0.0.1:$GW_TUN
  join_token: $JOIN
connections:
  - name: bench
    type: postgres
    connector: dc1
    address: 127.0.0.1:$PGPORT
    database: bench
    username: postgres
    password: $PGPW
    tls: disable
EOF
	log "starting gatehouse connector dc1"
	"$GH" connector --config "$T/gh-conn/gatehouse.yaml" >"$T/gatehouse-connector.log" 2>&1 &
	CONN_PID=$!
	PIDS+=("$CONN_PID")
	GW_TOKEN=$(retry 20 "$GH" tokens issue --gateway "http://127.0.0.1:$GW_API" --token "$GW_ADMIN" \
		--identity bench-runner --groups bench --ttl 2h) || { cat "$T/retry.log" "$T/gatehouse-gateway.log" >&2; die "could not issue a token from gatehouse gateway"; }
fi

# ---------------------------------------------------------------- targets
# target -> "host port user password sslmode"
target_conn() {
	case $1 in
	direct) echo "127.0.0.1 $PGPORT postgres $PGPW disable" ;;
	pgbouncer) echo "127.0.0.1 $BPORT postgres $PGPW disable" ;;
	gh-up) echo "127.0.0.1 $UP_PG bench $UP_TOKEN disable" ;;
	gh-up-tls) echo "127.0.0.1 $UP_PG bench $UP_TOKEN require" ;;
	gh-up-norows) echo "127.0.0.1 $UP_PG bench-norows $UP_TOKEN disable" ;;
	gh-split) echo "127.0.0.1 $GW_PG bench $GW_TOKEN disable" ;;
	*) die "unknown target $1" ;;
	esac
}

# PIDs whose CPU time is charged to a target (the proxy processes in its path).
target_pids() {
	case $1 in
	direct) echo "" ;;
	pgbouncer) echo "$BOUNCER_PID" ;;
	gh-up | gh-up-tls | gh-up-norows) echo "$UP_PID" ;;
	gh-split) echo "$GW_PID $CONN_PID" ;;
	esac
}
cpu_ticks() { # pids... -> utime+stime in clock ticks, summed
	local p sum=0 v
	for p in "$@"; do
		v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		sum=$((sum + v))
	done
	echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

# Check every target answers a query before measuring anything.
for t in $TARGETS; do
	read -r h p u pw ssl <<<"$(target_conn "$t")"
	if ! out=$(retry 30 env PGPASSWORD="$pw" PGSSLMODE="$ssl" PGCONNECT_TIMEOUT=5 \
		psql -X -At -h "$h" -p "$p" -U "$u" -d bench -c "select count(*) from pgbench_branches"); then
		tail -5 "$T/retry.log" >&2
		die "target $t does not answer (psql -h $h -p $p -U $u -d bench sslmode=$ssl)"
	fi
	log "target $t ready ($out branches)"
done

rss_line() { # label pid
	[[ -n $2 ]] || return 0
	printf '%-22s rss=%6d KiB  peak=%6d KiB  cpu=%6ss\n' "$1" "$(proc_rss_kb "$2")" "$(proc_hwm_kb "$2")" "$(proc_cpu_s "$2")"
}
mem_snapshot() {
	rss_line "gatehouse up" "$UP_PID"
	rss_line "gatehouse gateway" "$GW_PID"
	rss_line "gatehouse connector" "$CONN_PID"
}
MEM_BEFORE=$(mem_snapshot)

# ---------------------------------------------------------------- runs
RAW=$RESULTS_DIR/raw
mkdir -p "$RAW"
declare -A TPS # key: mode|target -> space-separated TPS per round
declare -A CPU # key: mode|target -> space-separated proxy CPU microseconds per transaction
declare -A FAIL

mode_args() {
	case $1 in
	simple) echo "-M simple -T $DURATION" ;;
	prepared) echo "-M prepared -T $DURATION" ;;
	connect) echo "-M simple -C -T $C_DURATION" ;;
	*) die "unknown mode $1 (simple, prepared, connect)" ;;
	esac
}

read -r -a TARGET_LIST <<<"$TARGETS"
NT=${#TARGET_LIST[@]}
total_runs=0
for mode in $MODES; do total_runs=$((total_runs + ROUNDS * NT)); done
run_no=0
for mode in $MODES; do
	read -r -a margs <<<"$(mode_args "$mode")"
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 0; k < NT; k++)); do
			# Rotate the order every round so no target always runs first.
			t=${TARGET_LIST[$(((k + r - 1) % NT))]}
			read -r h p u pw ssl <<<"$(target_conn "$t")"
			run_no=$((run_no + 1))
			out=$RAW/$mode-$t-r$r.txt
			log "[$run_no/$total_runs] $mode round $r: $t"
			read -r -a tp <<<"$(target_pids "$t")"
			c0=$(cpu_ticks "${tp[@]}")
			rc=0
			PGPASSWORD="$pw" PGSSLMODE="$ssl" run_wait timeout $((DURATION + C_DURATION + 60)) \
				pgbench -S -n -c "$CLIENTS" -j "$THREADS" "${margs[@]}" -h "$h" -p "$p" -U "$u" bench >"$out" 2>&1 || rc=$?
			c1=$(cpu_ticks "${tp[@]}")
			tps=$(awk '/^tps = / {print $3; exit}' "$out")
			ntx=$(awk '/^number of transactions actually processed:/ {print $NF; exit}' "$out")
			if [[ ${#tp[@]} -gt 0 && -n $ntx && $ntx -gt 0 ]]; then
				CPU[$mode|$t]="${CPU[$mode|$t]:-} $(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$ntx" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')"
			fi
			if [[ $rc -ne 0 || -z $tps ]]; then
				log "  failed (exit $rc): $(grep -m1 -iE 'error|fatal|abort' "$out" || tail -1 "$out")"
				FAIL[$mode|$t]=1
				tps=fail
			else
				log "  tps $tps"
			fi
			TPS[$mode|$t]="${TPS[$mode|$t]:-} $tps"
		done
	done
done

MEM_AFTER=$(mem_snapshot)

# ---------------------------------------------------------------- report
median() { # numbers... ("fail" ignored)
	printf '%s\n' "$@" | grep -v '^fail$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'
}

REPORT=$RESULTS_DIR/report.md
{
	echo "gatehouse bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "pgbench -S -c $CLIENTS -j $THREADS -n, scale $SCALE, $ROUNDS rounds, ${DURATION}s per run (-C: ${C_DURATION}s)"
	echo "load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	for mode in $MODES; do
		read -r -a margs <<<"$(mode_args "$mode")"
		echo "### $mode (pgbench -S ${margs[*]})"
		echo
		hdr="| target |"
		sep="|---|"
		for ((r = 1; r <= ROUNDS; r++)); do hdr+=" round $r |"; sep+="---:|"; done
		echo "$hdr median TPS | vs direct | proxy CPU µs/txn |"
		echo "$sep---:|---:|---:|"
		dmed=$(median ${TPS[$mode|direct]:-})
		for t in "${TARGET_LIST[@]}"; do
			read -r -a v <<<"${TPS[$mode|$t]:-}"
			med=$(median "${v[@]}")
			if [[ $dmed != - && $med != - ]]; then
				ratio=$(awk -v a="$med" -v b="$dmed" 'BEGIN { printf "%.2f", a / b }')
			else
				ratio=-
			fi
			row="| $t |"
			for x in "${v[@]}"; do
				[[ $x == fail ]] && row+=" fail |" || row+=" $(printf '%.0f' "$x") |"
			done
			[[ $med == - ]] || med=$(printf '%.0f' "$med")
			cpu=-
			if [[ -n ${CPU[$mode|$t]:-} ]]; then
				read -r -a cv <<<"${CPU[$mode|$t]}"
				cpu=$(median "${cv[@]}")
			fi
			echo "$row $med | $ratio | $cpu |"
		done
		echo
	done
	echo "proxy CPU µs/txn: median over the rounds of the user+system CPU time that the proxy processes"
	echo "(pgbouncer; gatehouse up; gateway + connector for split) used during the run, divided by the"
	echo "transactions pgbench completed. Less sensitive to a noisy machine than TPS."
	echo
	echo "gatehouse processes (from /proc; cpu = user+system seconds since start):"
	echo '```'
	echo "before:"
	echo "$MEM_BEFORE"
	echo "after:"
	echo "$MEM_AFTER"
	echo '```'
	echo
	echo "data dirs after the run: $(du -sh "$T"/gh-up/data 2>/dev/null | cut -f1) (up), $(du -sh "$T"/gh-gw/data 2>/dev/null | cut -f1) (gateway), $(du -sh "$T"/gh-conn/data 2>/dev/null | cut -f1) (connector)"
} >"$REPORT"

# ---------------------------------------------------------------- profile
if [[ $PROFILE == 1 && -n $UP_PID ]]; then
	PROF=$RESULTS_DIR/profile.txt
	if command -v perf >/dev/null && perf record -e cpu-clock -o "$T/perf-check.data" -- true >/dev/null 2>&1; then
		log "profiling gatehouse up (pid $UP_PID) for ${PROFILE_SECONDS}s under pgbench -S -M simple"
		read -r h p u pw ssl <<<"$(target_conn gh-up)"
		PGPASSWORD="$pw" PGSSLMODE="$ssl" pgbench -S -n -c "$CLIENTS" -j "$THREADS" -M simple -T $((PROFILE_SECONDS + 4)) \
			-h "$h" -p "$p" -U "$u" bench >"$RAW/profile-pgbench.txt" 2>&1 &
		PB=$!
		PIDS+=("$PB")
		sleep 2
		# cpu-clock works in VMs without hardware counters; Go keeps frame pointers, so -g gives call chains.
		run_wait perf record -e cpu-clock -F 999 -g -p "$UP_PID" -o "$T/perf.data" -- sleep "$PROFILE_SECONDS" >"$T/perf-record.log" 2>&1 || true
		wait "$PB" || true
		unset 'PIDS[${#PIDS[@]}-1]'
		{
			echo "perf record -e cpu-clock -F 999 -g -p <gatehouse up> for ${PROFILE_SECONDS}s, pgbench -S -M simple -c $CLIENTS -j $THREADS"
			echo "pgbench during the profile: $(awk '/^tps = / {print $3; exit}' "$RAW/profile-pgbench.txt") tps"
			echo
			perf script -i "$T/perf.data" 2>/dev/null | awk -f "$REPO/bench/perf-summary.awk" || true
		} >"$PROF"
		cp "$T/perf.data" "$RESULTS_DIR/perf.data" 2>/dev/null || true
		log "profile written to $PROF"
	else
		echo "perf is not usable here; no profile taken" >"$PROF"
		log "perf not usable; skipping the profile"
	fi
fi

echo
cat "$REPORT"
if [[ -f $RESULTS_DIR/profile.txt ]]; then
	echo
	echo "profile ($RESULTS_DIR/profile.txt):"
	sed -n '1,40p' "$RESULTS_DIR/profile.txt"
fi
echo
echo "results kept in $RESULTS_DIR"
