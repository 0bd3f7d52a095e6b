#!/bin/bash
# jsd vs qemu-storage-daemon serving the same kind of qcow2 image over NBD
# (unix socket), measured with fio's nbd engine: random reads of written
# data, random rewrites of allocated clusters, and random writes into a fresh
# image (cluster allocation), each at 4k and 64k (one whole default cluster),
# plus 1 MiB sequential writes into a fresh image (multi-cluster allocation).
# Prints IOPS and the jsd/qsd ratio.
# Usage: scripts/qcow2-nbd-bench.sh [seconds-per-workload] [workload...]
#   (from the project root, after mvn package; workloads: randread-4k randwrite-4k
#    alloc-4k randread-64k randwrite-64k alloc-64k seqalloc-1m; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
DIR=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
serve() { # who image
  local args=(--blockdev "driver=file,node-name=f,filename=$2,cache.direct=off" --blockdev "qcow2,node-name=q,file=f"
              --nbd-server "addr.type=unix,addr.path=$DIR/s.sock" --export "nbd,id=e,node-name=q,name=disk,writable=on")
  rm -f "$DIR/s.sock"
  if [ "$1" = jsd ]; then ./jsd "${args[@]}" >"$DIR/$1.log" 2>&1 & else qemu-storage-daemon "${args[@]}" >"$DIR/$1.log" 2>&1 & fi
  PID=$!
  for _ in $(seq 200); do [ -S "$DIR/s.sock" ] && return; sleep 0.05; done
  echo "server $1 did not start"; cat "$DIR/$1.log"; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
iops() { # rw bs [how long: time-based unless "one-pass"] [fio options...]
  local span=(--time_based --runtime="$SECS")
  [ "${3:-}" = one-pass ] && span=(--io_size=1G) # every cluster allocated exactly once, nothing rewritten
  fio --name=b --ioengine=nbd --uri="nbd+unix:///disk?socket=$DIR/s.sock" --rw="$1" --bs="$2" --iodepth=16 \
      "${span[@]}" --size=1G "${@:4}" --randrepeat=1 --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(int(j["read"]["iops"] + j["write"]["iops"]))'
}
WORKLOADS=("${@:2}")
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(randread-4k randwrite-4k alloc-4k randread-64k randwrite-64k alloc-64k seqalloc-1m)
printf "%-24s %10s %10s %8s\n" workload "qsd IOPS" "jsd IOPS" "jsd/qsd"
for w in "${WORKLOADS[@]}"; do
  kind=${w%-*}; bs=${w##*-}
  declare -A res
  for who in qsd jsd; do
    img="$DIR/$who.qcow2"; rm -f "$img"
    # 2G: the allocating workloads warm the server up in the upper half first (a JVM that
    # just started runs its first second or two interpreted; one pass at 64k is that short)
    qemu-img create -q -f qcow2 "$img" 2G
    case $kind in randread|randwrite) qemu-io -f qcow2 -c "write -P 0x5a 0 1G" "$img" >/dev/null ;; esac
    sync
    serve "$who" "$img"
    span=""; rw=$kind
    case $kind in alloc) rw=randwrite ;; seqalloc) rw=write ;; esac
    # a fresh 1G image holds only 16384 64k clusters: time-based runs would mostly rewrite
    [ "$kind" = seqalloc ] || [ "$w" = alloc-64k ] && span=one-pass
    case $kind in alloc|seqalloc) iops "$rw" "$bs" one-pass --offset=1G --io_size=256M >/dev/null ;; esac
    res[$who]=$(iops "$rw" "$bs" "$span")
    stop
  done
  printf "%-24s %10s %10s %8.2f\n" "$w (QD16)" "${res[qsd]}" "${res[jsd]}" "$(python3 -c "print(${res[jsd]} / max(1, ${res[qsd]}))")"
done
