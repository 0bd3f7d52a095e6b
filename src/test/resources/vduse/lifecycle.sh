# vduse-guest --script: export deletion and re-creation through QMP while the
# guest runs; a safe delete is refused while the device is attached. The daemon has a QMP monitor on /run/jsd-qmp.sock and a
# vduse-blk export 'v' of node 'f' named vduse0. $QMP is qmp.py.
q() { python3 "$QMP" /run/jsd-qmp.sock "$@"; }

vug_write_region head 0 4096
sync "$VUG_DEV"
out=$(q '{"execute":"query-block-exports"}')
case "$out" in
    *'"type": "vduse-blk"'*'"id": "v"'*|*'"id": "v"'*'"type": "vduse-blk"'*) vug_pass query "$out" ;;
    *) vug_fail query "$out" ;;
esac
out=$(q '{"execute":"block-export-del","arguments":{"id":"v"}}')
case "$out" in
    *"export 'v' still in use"*) vug_pass safe-delete-refused "$out" ;;
    *) vug_fail safe-delete-refused "$out"; exit 1 ;;
esac
vdg_vdpa_del || exit 1
i=0; while [ -e "$VUG_SYS" ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
out=$(q '{"execute":"block-export-del","arguments":{"id":"v"}}' --event BLOCK_EXPORT_DELETED) || { vug_fail delete "$out"; exit 1; }
if [ -e /dev/vduse/vduse0 ]; then vug_fail delete "/dev/vduse/vduse0 still there: $out"; exit 1; fi
vug_pass delete "BLOCK_EXPORT_DELETED, /dev/vduse/vduse0 destroyed"
out=$(q '{"execute":"block-export-add","arguments":{"type":"vduse-blk","id":"v2","node-name":"f","name":"vduse0","writable":true}}')
case "$out" in *'"return"'*) ;; *) vug_fail re-add "$out"; exit 1 ;; esac
[ -e /dev/vduse/vduse0 ] || { vug_fail re-add "no /dev/vduse/vduse0"; exit 1; }
vdg_vdpa_add || exit 1
vug_wait_device || { vug_fail re-add "/dev/vda did not come back"; exit 1; }
vug_pass re-add "a new export with the same device name works"
vug_verify_region head 0 4096
# the same device detached and attached again: the driver resets it and sets it up anew
vdg_vdpa_del || exit 1
i=0; while [ -e "$VUG_SYS" ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
vdg_vdpa_add || exit 1
vug_wait_device || { vug_fail reattach "/dev/vda did not come back"; exit 1; }
vug_pass reattach "/dev/vda back after vdpa dev del + add"
vug_write_region tail $((64 * 1024 * 1024 - 4096)) 4096
sync "$VUG_DEV"
echo 3 >/proc/sys/vm/drop_caches
vug_verify_region head-again 0 4096
vug_verify_region tail $((64 * 1024 * 1024 - 4096)) 4096
