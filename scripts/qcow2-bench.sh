#!/bin/bash
# Compares jsd's qcow2 driver with QEMU's on the same request patterns,
# both in-process (jsd: Qcow2Bench; QEMU: qemu-img bench), page cache on.
# Both clocks stop when the last request completes: qemu-img bench flushes at
# close, untimed, so Qcow2Bench reports its final flush separately.
# Usage: scripts/qcow2-bench.sh [rounds] [workload...]   (after `mvn package`, from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/find-java.sh
ROUNDS=${1:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
CP="target/classes:target/test-classes:$(ls target/lib/*.jar | tr '\n' ':')"
JAVA=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
      --add-opens java.base/java.io=ALL-UNNAMED -cp "$CP" jsd.block.qcow2.Qcow2Bench)
secs() { sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p'; }
# name  mode  count  size  depth  step  fresh-image?
WORKLOADS=(
  "alloc-64k write 16384 65536 16 65536 fresh"
  "alloc-4k write 65536 4096 16 4096 fresh"
  "rewrite-4k write 200000 4096 16 1052672 full"
  "read-4k read 200000 4096 16 1052672 full"
  "read-64k read 32768 65536 16 65536 full"
  "alloc-1m write 1024 1048576 16 1048576 fresh"
)
if [ $# -gt 1 ]; then # only the named workloads
  keep=(); for w in "${WORKLOADS[@]}"; do for n in "${@:2}"; do [ "${w%% *}" = "$n" ] && keep+=("$w"); done; done
  WORKLOADS=("${keep[@]}")
fi
printf "%-12s %10s %10s %8s\n" workload "qemu s" "jsd s" "jsd/qemu"
for w in "${WORKLOADS[@]}"; do
  read -r name mode count size depth step image <<<"$w"
  best_q=999999; best_j=999999
  for ((r = 0; r < ROUNDS; r++)); do
    for who in qemu jsd; do
      img="$DIR/$who.qcow2"
      rm -f "$img"
      qemu-img create -q -f qcow2 "$img" 1G
      if [ "$image" = full ]; then qemu-io -f qcow2 -c "write -P 0x5a 0 1G" "$img" >/dev/null; fi
      sync
      if [ "$who" = qemu ]; then
        flag=""; [ "$mode" = write ] && flag="-w"
        t=$(qemu-img bench -f qcow2 -t writeback -i threads $flag -c "$count" -s "$size" -d "$depth" -S "$step" "$img" | secs)
        best_q=$(python3 -c "print(min($best_q, $t))")
      else
        t=$("${JAVA[@]}" "$img" "$mode" "$count" "$size" "$depth" "$step" | secs)
        best_j=$(python3 -c "print(min($best_j, $t))")
      fi
    done
  done
  printf "%-12s %10.3f %10.3f %8.2f\n" "$name" "$best_q" "$best_j" "$(python3 -c "print($best_j / $best_q)")"
done
