package jsd.export.virtio;

/**
 * Numbers from the virtio specification (split virtqueues, virtio-blk),
 * under their own names; shared by the transports (vhost-user, VDUSE).
 */
public final class Virtio {
    private Virtio() {}

    // virtio feature bits
    public static final int VIRTIO_RING_F_INDIRECT_DESC = 28;
    public static final int VIRTIO_RING_F_EVENT_IDX = 29;
    public static final int VIRTIO_F_NOTIFY_ON_EMPTY = 24;
    public static final int VIRTIO_F_VERSION_1 = 32;
    /** The device reaches driver memory through an IOMMU (VDUSE requires it). */
    public static final int VIRTIO_F_ACCESS_PLATFORM = 33;
    public static final int VIRTIO_BLK_F_SIZE_MAX = 1;
    public static final int VIRTIO_BLK_F_SEG_MAX = 2;
    public static final int VIRTIO_BLK_F_RO = 5;
    public static final int VIRTIO_BLK_F_BLK_SIZE = 6;
    public static final int VIRTIO_BLK_F_FLUSH = 9;
    public static final int VIRTIO_BLK_F_TOPOLOGY = 10;
    public static final int VIRTIO_BLK_F_CONFIG_WCE = 11;
    public static final int VIRTIO_BLK_F_MQ = 12;
    public static final int VIRTIO_BLK_F_DISCARD = 13;
    public static final int VIRTIO_BLK_F_WRITE_ZEROES = 14;

    // split virtqueue descriptor flags and ring flags
    public static final int VRING_DESC_F_NEXT = 1;
    public static final int VRING_DESC_F_WRITE = 2;
    public static final int VRING_DESC_F_INDIRECT = 4;
    public static final int VRING_AVAIL_F_NO_INTERRUPT = 1;
    /** Largest split ring the virtio specification allows. */
    public static final int MAX_QUEUE_SIZE = 32768;

    // virtio-blk requests and statuses
    public static final int VIRTIO_BLK_T_IN = 0;
    public static final int VIRTIO_BLK_T_OUT = 1;
    public static final int VIRTIO_BLK_T_FLUSH = 4;
    public static final int VIRTIO_BLK_T_GET_ID = 8;
    public static final int VIRTIO_BLK_T_DISCARD = 11;
    public static final int VIRTIO_BLK_T_WRITE_ZEROES = 13;
    public static final int VIRTIO_BLK_T_BARRIER = 0x80000000;
    public static final int VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
    public static final byte VIRTIO_BLK_S_OK = 0;
    public static final byte VIRTIO_BLK_S_IOERR = 1;
    public static final byte VIRTIO_BLK_S_UNSUPP = 2;
    public static final int VIRTIO_BLK_ID_BYTES = 20;
    public static final int SECTOR = 512;

    public static long bit(int n) { return 1L << n; }
}
