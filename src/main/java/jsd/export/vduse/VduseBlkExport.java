package jsd.export.vduse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.export.BlockExport;
import jsd.export.ExportRegistry;

/**
 * A vduse-blk export: a virtio-blk device in the kernel (VDUSE) whose
 * data path is this daemon. The device exists from block-export-add to
 * the export's end; attaching it to the vDPA bus (`vdpa dev add`) is the
 * administrator's business, as with qemu-storage-daemon. As there, the
 * driver using the device does not make the export "in use": a delete
 * (safe or hard) stops the queues, waits for their requests and destroys
 * the device, which the kernel refuses while it is still attached.
 */
final class VduseBlkExport extends BlockExport {
    private final VduseDevice device;

    VduseBlkExport(ObjectNode options, BlockNode node, VduseDevice device) {
        super(options, node);
        this.device = device;
    }

    @Override
    public boolean inUse() {
        return false;
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
