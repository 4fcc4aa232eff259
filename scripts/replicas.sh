#!/usr/bin/env bash
# Several `adallava serve` replicas behind nginx on loopback ports: least-connections balancing,
# server-sent events passed through unbuffered, and a health loop that takes a replica out of
# the upstream (and puts it back) by its GET /health, reloading nginx when that changes.
#
#   bash scripts/replicas.sh -m MODEL [-n 2] [--port 8080] [--base-port 18100] [-- serve flags...]
#
# Prints "ready: http://127.0.0.1:PORT" once every replica answers; stops everything on exit,
# Ctrl-C or SIGTERM.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${ADALLAVA_BIN:-$root/build/adallava}"
model="" n=2 port=8080 base=18100 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model="$2"; shift 2 ;;
    -n) n="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "replicas.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] || { echo "replicas.sh: give -m MODEL" >&2; exit 2; }
command -v nginx >/dev/null || { echo "replicas.sh: nginx is not installed (bash scripts/setup.sh)" >&2; exit 1; }

dir="$(mktemp -d /tmp/adallava-replicas.XXXXXX)"
mkdir -p "$dir/tmp"
chmod a+rx "$dir" && chmod a+rwx "$dir/tmp"  # nginx's workers may run as another user
pids=()
cleanup() {
  trap - EXIT INT TERM
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

threads=$(( $(nproc) / n )); [ "$threads" -ge 1 ] || threads=1
for i in $(seq 0 $((n - 1))); do
  "$bin" serve -m "$model" --port $((base + i)) -t "$threads" "${extra[@]}" 2>"$dir/replica$i.log" &
  pids+=($!)
done

# The nginx configuration for the replicas' current health (a "down" replica gets no requests).
write_conf() {
  {
    echo "worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log warn; daemon on;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log off; client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp;"
    echo "  fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;"
    echo "  upstream adallava {"
    echo "    least_conn;"
    for i in $(seq 0 $((n - 1))); do
      echo "    server 127.0.0.1:$((base + i))$( [ "${health[$i]}" = 200 ] || echo ' down');"
    done
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$port;"
    echo "    client_max_body_size 64m;"
    echo "    location / {"
    echo "      proxy_pass http://adallava;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\";"
    echo "      proxy_buffering off;          # events reach the client as they are written"
    echo "      proxy_cache off;"
    echo "      proxy_read_timeout 600s;"
    echo "      proxy_next_upstream error timeout http_503;"
    echo "    }"
    echo "  }"
    echo "}"
  } > "$dir/nginx.conf"
}

check() {  # fills health[i] with each replica's /health status
  for i in $(seq 0 $((n - 1))); do
    health[$i]=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$((base + i))/health" || true)
  done
}

declare -a health
for _ in $(seq 1 600); do
  check
  all=1; for i in $(seq 0 $((n - 1))); do [ "${health[$i]}" = 200 ] || all=0; done
  [ $all = 1 ] && break
  sleep 0.2
done
[ "$all" = 1 ] || { echo "replicas.sh: the replicas did not become ready" >&2; cat "$dir"/replica*.log >&2; exit 1; }
write_conf
nginx -p "$dir" -c "$dir/nginx.conf"
echo "ready: http://127.0.0.1:$port (replicas on $base..$((base + n - 1)), config $dir/nginx.conf)"

last="${health[*]}"
while true; do
  sleep 1
  check
  if [ "${health[*]}" != "$last" ]; then
    echo "replicas.sh: health now ${health[*]}; reloading nginx"
    write_conf
    nginx -p "$dir" -c "$dir/nginx.conf" -s reload
    last="${health[*]}"
  fi
done
