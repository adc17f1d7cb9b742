# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# bench/tools/common.sh: the measurements, shared by every tool (sourced by bench.sh).
# Raw outputs go into one directory per tool; bench/report.py turns them into the table/JSON.

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID... -> utime+stime of all given processes, in clock ticks (all threads included)
cpu_ticks() {
  local total=0 pid f
  for pid in "$@"; do
    # Fields after the ")" of comm: state is field 3, utime 14, stime 15.
    f=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a s <<<"$f"
    total=$((total + s[11] + s[12]))
  done
  echo "$total"
}

# rss_kb PID -> VmRSS in kB (0 if gone)
rss_kb() { awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# sample_rss_max PID FILE: background sampler writing the peak RSS seen into FILE
sample_rss_max() {
  local pid=$1 file=$2 max=0 r n=0
  # Stopped by measure(); the count bound (10 min) only matters if that kill never comes.
  while kill -0 "$pid" 2>/dev/null && ((n++ < 3000)); do
    r=$(rss_kb "$pid")
    ((r > max)) && { max=$r; echo "$max" >"$file"; }
    sleep 0.2
  done
}

stop_pids() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait_pid_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# iperf TAG ARGS...: client in ns a against the server in ns b, JSON into TAG.json (bounded)
iperf() {
  local tag=$1
  shift
  nsx a timeout $((BENCH_SECS + 20)) iperf3 -c "$TARGET" -t "$BENCH_SECS" -J --connect-timeout 3000 "$@" \
    >"$OUT/$tag.json" 2>"$OUT/$tag.err" || echo "  iperf3 $tag failed (see $OUT/$tag.err)"
}

# measure TOOL OUTDIR
measure() {
  echo "  measuring $1"
  OUT=$2
  local a_pid=${PIDS_A[0]:-}
  local sampler="" srv t0 t1

  nsbg b iperf3 -s -B "$TARGET" >"$OUT/iperf-server.log" 2>&1
  srv=$LAST_PID
  wait_until 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5201' | grep -q 5201" || true

  cut -d' ' -f1 /proc/loadavg >"$OUT/loadavg"
  [[ -n $a_pid ]] && rss_kb "$a_pid" >"$OUT/rss_idle_kb"

  echo "  ping: 50 x 0.1 s"
  nsx a ping -n -c 50 -i 0.1 -W 1 "$TARGET" >"$OUT/ping.txt" 2>&1 || true

  echo "  tcp, 1 stream, ${BENCH_SECS}s"
  if [[ -n $a_pid ]]; then
    sample_rss_max "$a_pid" "$OUT/rss_load_kb" &
    sampler=$!
  fi
  t0=$(cpu_ticks "${PIDS_A[@]}" "${PIDS_B[@]}")
  iperf tcp1
  t1=$(cpu_ticks "${PIDS_A[@]}" "${PIDS_B[@]}")
  ((${#PIDS_A[@]})) && echo "$((t1 - t0)) $CLK_TCK" >"$OUT/cpu_ticks"

  echo "  tcp, 4 streams, ${BENCH_SECS}s"
  iperf tcp4 -P 4

  echo "  udp, 64-byte payloads, unlimited rate, ${BENCH_SECS}s"
  iperf udp -u -l 64 -b 0

  [[ -n $sampler ]] && { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; }
  stop_pids "$srv"
  python3 "$BENCH_DIR/report.py" --brief "$OUT"
}
