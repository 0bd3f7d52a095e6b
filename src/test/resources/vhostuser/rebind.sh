# Guest script (busybox sh, see ../shared/guest/README.md): unbinds and rebinds
# the virtio-blk driver, which makes QEMU stop the vhost-user device
# (GET_VRING_BASE) and set it up again (memory table, rings, kicks), then runs
# the default workload on the device it got back.
vug_write_region head 0 4096
sync "$VUG_DEV"
dev=$(basename "$(readlink /sys/block/vda/device)")
echo "$dev" > /sys/bus/virtio/drivers/virtio_blk/unbind
i=0; while [ -e /sys/block/vda ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
[ -e /sys/block/vda ] && { vug_fail unbind "vda still there"; exit 1; }
vug_pass unbind "$dev unbound"
echo "$dev" > /sys/bus/virtio/drivers/virtio_blk/bind
vug_wait_device || { vug_fail rebind "/dev/vda did not come back"; exit 1; }
vug_pass rebind "/dev/vda back after the driver was unbound and bound again"
vug_verify_region head 0 4096
vug_default_workload
