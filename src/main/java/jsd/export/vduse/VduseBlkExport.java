package jsd.export.vduse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.export.BlockExport;
import jsd.export.ExportRegistry;

/**
 * A vduse-blk export: a virtio-blk device in the kernel (VDUSE) whose
 * data path is this daemon. The device exists from block-export-add to
 * the export's end; attaching it to the vDPA bus (`vdpa dev add`) is the
 * administrator's business, as with qemu-storage-daemon. A driver using
 * the device makes the export "in use": the kernel refuses to destroy an
 * attached device, and the driver's requests would then wait forever, so
 * a safe delete is refused until `vdpa dev del`. A hard delete (and the
 * daemon's exit) goes ahead as qemu-storage-daemon's delete does: queues
 * stopped, requests finished, the device destroyed if the kernel lets it.
 */
final class VduseBlkExport extends BlockExport {
    private final VduseDevice device;

    VduseBlkExport(ObjectNode options, BlockNode node, VduseDevice device) {
        super(options, node);
        this.device = device;
    }

    @Override
    public boolean inUse() {
        return device.driverActive();
    }

    @Override
    protected void shutdown(boolean hard, ExportRegistry registry) {
        String problem = device.close();
        if (problem != null) {
            System.err.println("jsd: vduse-blk export '" + id() + "': VDUSE device " + device.name + " not destroyed: " + problem);
        }
        registry.finished(this);
    }
}
