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
