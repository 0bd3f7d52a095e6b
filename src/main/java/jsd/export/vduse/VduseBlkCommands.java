package jsd.export.vduse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.daemon.Daemon;
import jsd.export.BlockExport;
import jsd.export.virtio.BlkDevice;
import jsd.qapi.QapiError;
import jsd.sys.Errno;
import jsd.sys.SysException;
import jsd.sys.Vduse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static jsd.export.virtio.Virtio.*;

/**
 * The "vduse-blk" export type of block-export-add and --export. Option
 * checks and messages are qemu-storage-daemon 7.2's, in its order; where
 * it fails with a bare "failed to create vduse device", jsd adds the
 * kernel's reason.
 */
public final class VduseBlkCommands {
    private static final long MIN_BLOCK_SIZE = 512;
    private static final long MAX_BLOCK_SIZE = 2 * 1024 * 1024;
    /** VIRTQUEUE_MAX_SIZE in QEMU. */
    private static final int MAX_QUEUE_SIZE = 1024;

    private VduseBlkCommands() {}

    /** Wires the export type into the daemon (called from jsd.cli.Extensions). */
    public static void install(Daemon daemon) {
        daemon.exports().registerDriver("vduse-blk", VduseBlkCommands::create);
    }

    private static BlockExport create(ObjectNode options, BlockNode node) throws IOException {
        String id = options.get("id").asText();
        String name = options.get("name").asText();
        int queues = options.has("num-queues") ? options.get("num-queues").asInt() : 1;
        if (queues == 0) throw QapiError.generic("num-queues must be greater than 0");
        int queueSize = options.has("queue-size") ? options.get("queue-size").asInt() : 256;
        if (queueSize <= 2 || Integer.bitCount(queueSize) != 1 || queueSize > MAX_QUEUE_SIZE) {
            throw QapiError.generic("queue-size is invalid");
        }
        long lbs = options.has("logical-block-size") ? options.get("logical-block-size").asLong() : 512;
        if (lbs < MIN_BLOCK_SIZE || lbs > MAX_BLOCK_SIZE) {
            throw QapiError.generic("Property %s.logical-block-size doesn't take value %s (minimum: %d, maximum: %d)",
                    id, Long.toUnsignedString(lbs), MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        }
        if (Long.bitCount(lbs) != 1) {
            throw QapiError.generic("Property %s.logical-block-size doesn't take value '%d', it's not a power of 2", id, lbs);
        }
        String serial = options.has("serial") ? options.get("serial").asText() : "";
        // the kernel takes names up to 255 bytes and makes them a file name under /dev/vduse
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        if (nameBytes.length == 0 || nameBytes.length >= Vduse.NAME_MAX || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw QapiError.generic("failed to create vduse device: invalid device name '%s'", name);
        }
        boolean writable = options.has("writable") && options.get("writable").asBoolean();
        boolean writethrough = options.has("writethrough") && options.get("writethrough").asBoolean();
        BlkDevice blk = new BlkDevice(node, writable, writethrough, (int) lbs, queues, queueSize - 2, serial);
        // what qemu-storage-daemon offers: no CONFIG_WCE (VDUSE's configuration space is
        // read-only), MQ only with several queues, and the IOMMU bit VDUSE requires
        long features = blk.features() | bit(VIRTIO_F_ACCESS_PLATFORM);
        if (queues > 1) features |= bit(VIRTIO_BLK_F_MQ);
        VduseDevice device;
        try {
            device = new VduseDevice(id, name, blk, features, queueSize);
        } catch (SysException e) {
            String why = e.getMessage();
            if (e.errno() == Errno.ENOENT && why.startsWith(Vduse.CONTROL)) {
                why += " (the kernel has no VDUSE: it needs CONFIG_VDPA_USER, module vduse)";
            }
            throw QapiError.generic("failed to create vduse device: %s", why);
        }
        return new VduseBlkExport(options, node, device);
    }
}
