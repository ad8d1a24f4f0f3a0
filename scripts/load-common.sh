# shellcheck shell=bash
# Helpers shared by scripts/load-bench and scripts/load-pair (sourced, not run).

# Waits up to 10 s for a server to listen on 127.0.0.1:PORT.
wait_port() { # PORT
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# CPU time of process PID so far, user + system, in clock ticks (1/100 s).
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# The box's CPU time so far, all CPUs, as "STOLEN TOTAL" clock ticks: time the host gave
# the box's virtual CPUs to others (the `steal` column of /proc/stat), and all of it.
box_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

# Share of the box's CPU time the host took between two box_ticks readings, in percent.
steal_pct() { # "STOLEN0 TOTAL0" "STOLEN1 TOTAL1"
    awk -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        total = y[2] - x[2]
        printf "%.1f\n", (total > 0 ? 100 * (y[1] - x[1]) / total : 0) }'
}
