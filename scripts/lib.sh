# Helpers the scripts share (sourced, not run).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs a shell command as the postgres user when root (PostgreSQL refuses to run as root).
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }

# Waits until URL/readyz answers 200: TRIES polls, INTERVAL seconds apart. Fails otherwise.
wait_ready() {
  local url=$1 tries=$2 interval=$3
  for _ in $(seq "$tries"); do
    curl -sf -o /dev/null "$url/readyz" && return 0
    sleep "$interval"
  done
  return 1
}
