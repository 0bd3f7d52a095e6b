package jsd.export.virtio;

import jsd.block.BlockNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jsd.export.virtio.Virtio.*;

/**
 * The virtio-blk device an export presents: its feature bits, its
 * configuration space, and the write-cache switch the guest may flip
 * through the config's wce field (vhost-user only: VDUSE's configuration
 * space is read-only). Values follow qemu-storage-daemon 7.2 (seg_max as
 * the transport says, 16 MiB discard and write-zeroes limits, one segment
 * each), except wce, which tells the truth about the cache (see
 * {@link #writeCache}).
 */
public final class BlkDevice {
    /** vhost-user-blk's seg_max; VDUSE uses queue-size - 2 as qemu-storage-daemon does. */
    public static final int SEG_MAX = 126;
    static final int MAX_DISCARD_SECTORS = 32768;
    static final int MAX_WRITE_ZEROES_SECTORS = 32768;
    /** sizeof(struct virtio_blk_config) up to write_zeroes_may_unmap and its padding. */
    public static final int CONFIG_SIZE = 60;
    public static final int CONFIG_WCE_OFFSET = 32;

    final BlockNode node;
    final boolean writable;
    final int logicalBlockSize;
    public final int numQueues;
    final int segMax;
    /** What GET_ID answers (at most 20 bytes, not NUL-terminated when it has all 20). */
    final String serial;
    /**
     * Whether writes may stay in the host's cache until a FLUSH. Starts as
     * !writethrough; the guest switches it with the config's wce field.
     * qemu-storage-daemon reports wce=0 at first even when it caches,
     * which lets a guest believe its writes are stable when they are
     * not; jsd reports the mode it really uses.
     */
    public volatile boolean writeCache;

    public BlkDevice(BlockNode node, boolean writable, boolean writethrough, int logicalBlockSize, int numQueues,
                     int segMax, String serial) {
        this.node = node;
        this.writable = writable;
        this.logicalBlockSize = logicalBlockSize;
        this.numQueues = numQueues;
        this.segMax = segMax;
        this.serial = serial;
        this.writeCache = !writethrough;
    }

    /**
     * The virtio-blk features every transport offers; each adds its own
     * (CONFIG_WCE and MQ for vhost-user, ACCESS_PLATFORM for VDUSE).
     */
    public long features() {
        long f = bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH)
                | bit(VIRTIO_BLK_F_TOPOLOGY) | bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES)
                | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_F_VERSION_1);
        if (!writable) f |= bit(VIRTIO_BLK_F_RO);
        return f;
    }

    /** struct virtio_blk_config, little-endian (CONFIG_SIZE bytes). */
    public byte[] config() throws IOException {
        ByteBuffer c = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        c.putLong(0, node.size() / SECTOR);        // capacity
        c.putInt(12, segMax);                      // seg_max (size_max at 8 stays 0: not offered)
        c.putInt(20, logicalBlockSize);             // blk_size
        c.put(24, (byte) 0);                        // physical_block_exp
        c.put(25, (byte) 0);                        // alignment_offset
        c.putShort(26, (short) 1);                  // min_io_size
        c.putInt(28, 1);                            // opt_io_size
        c.put(CONFIG_WCE_OFFSET, (byte) (writeCache ? 1 : 0));
        c.putShort(34, (short) numQueues);
        c.putInt(36, MAX_DISCARD_SECTORS);
        c.putInt(40, 1);                            // max_discard_seg
        c.putInt(44, logicalBlockSize / SECTOR);    // discard_sector_alignment
        c.putInt(48, MAX_WRITE_ZEROES_SECTORS);
        c.putInt(52, 1);                            // max_write_zeroes_seg
        c.put(56, (byte) 0);                        // write_zeroes_may_unmap
        return c.array();
    }
}
