package jsd.export.virtio;

import jsd.block.BlockNode;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static jsd.export.virtio.Virtio.*;

/**
 * Runs one virtio-blk request against the block node, straight between
 * the node and guest memory (no copy). The request header is the first
 * 16 readable bytes; the status is the last writable byte. Whatever the
 * guest put there, the answer is a status: IOERR for a bad range, size
 * or address, UNSUPP for an unknown type or flag.
 */
public final class BlkRequests {
    /** ByteBuffer views are limited to 2 GiB; guest buffers may be up to 4 GiB. */
    private static final long VIEW_MAX = 1L << 30;

    /**
     * A request in more pieces than this goes through one buffer: one
     * system call and a copy per piece beat one system call per piece
     * (Linux sends a 512 KiB read as 126 separate 4 KiB guest pages).
     */
    private static final int DIRECT_SEGMENTS_MAX = 4;
    private static final int BOUNCE_SIZE = 1 << 20;
    private static final int BOUNCE_POOLED = 16;

    private final BlkDevice device;
    private final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> bounces = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicInteger pooled = new java.util.concurrent.atomic.AtomicInteger();

    public BlkRequests(BlkDevice device) { this.device = device; }

    private ByteBuffer takeBounce() {
        ByteBuffer b = bounces.poll();
        if (b != null) {
            pooled.decrementAndGet();
            return b;
        }
        return ByteBuffer.allocateDirect(BOUNCE_SIZE);
    }

    private void giveBounce(ByteBuffer b) {
        if (pooled.incrementAndGet() <= BOUNCE_POOLED) {
            bounces.add(b);
        } else {
            pooled.decrementAndGet(); // dropped: the garbage collector frees it
        }
    }

    /** Executes the request and writes its status; returns the used length (bytes written to the guest). */
    int run(DescriptorChain chain) {
        List<MemorySegment> writable = chain.writable();
        if (writable.isEmpty()) return 0; // nowhere to put a status: the guest sees the request completed
        MemorySegment last = writable.getLast();
        if (last == null) return 0;
        MemorySegment status = last.asSlice(last.byteSize() - 1, 1);
        List<MemorySegment> in = new ArrayList<>(writable);
        in.set(in.size() - 1, last.asSlice(0, last.byteSize() - 1));
        byte s;
        int dataIn = 0;
        if (chain.badAddress()) {
            s = VIRTIO_BLK_S_IOERR;
        } else {
            byte[] header = gather(chain.readable(), 16);
            if (header == null) {
                s = VIRTIO_BLK_S_IOERR;
            } else {
                ByteBuffer h = ByteBuffer.wrap(header).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                int type = h.getInt(0) & ~VIRTIO_BLK_T_BARRIER;
                long sector = h.getLong(8);
                List<MemorySegment> out = skip(chain.readable(), 16);
                int[] written = new int[1];
                s = execute(type, sector, out, in, written);
                dataIn = written[0];
            }
        }
        status.set(ValueLayout.JAVA_BYTE, 0, s);
        return dataIn + 1;
    }

    private byte execute(int type, long sector, List<MemorySegment> out, List<MemorySegment> in, int[] written) {
        try {
            switch (type) {
                case VIRTIO_BLK_T_IN -> {
                    long len = total(in);
                    long offset = range(sector, len);
                    if (offset < 0) return VIRTIO_BLK_S_IOERR;
                    if (in.size() > DIRECT_SEGMENTS_MAX && len <= BOUNCE_SIZE) {
                        ByteBuffer bounce = takeBounce();
                        try {
                            bounce.clear().limit((int) len);
                            device.node.read(offset, bounce);
                            MemorySegment src = MemorySegment.ofBuffer(bounce.clear());
                            long at = 0;
                            for (MemorySegment b : in) {
                                MemorySegment.copy(src, at, b, 0, b.byteSize());
                                at += b.byteSize();
                            }
                        } finally {
                            giveBounce(bounce);
                        }
                    } else {
                        for (MemorySegment b : in) {
                            for (ByteBuffer v : views(b)) {
                                device.node.read(offset, v);
                                offset += v.capacity();
                            }
                        }
                    }
                    written[0] = (int) Math.min(len, Integer.MAX_VALUE);
                    return VIRTIO_BLK_S_OK;
                }
                case VIRTIO_BLK_T_OUT -> {
                    if (!device.writable) return VIRTIO_BLK_S_IOERR;
                    long len = total(out);
                    long offset = range(sector, len);
                    if (offset < 0) return VIRTIO_BLK_S_IOERR;
                    int flags = device.writeCache ? 0 : BlockNode.FUA;
                    if (out.size() > DIRECT_SEGMENTS_MAX && len <= BOUNCE_SIZE) {
                        ByteBuffer bounce = takeBounce();
                        try {
                            MemorySegment dst = MemorySegment.ofBuffer(bounce.clear());
                            long at = 0;
                            for (MemorySegment b : out) {
                                MemorySegment.copy(b, 0, dst, at, b.byteSize());
                                at += b.byteSize();
                            }
                            device.node.write(offset, bounce.limit((int) len), flags);
                        } finally {
                            giveBounce(bounce);
                        }
                    } else if (out.size() == 1 && out.getFirst().byteSize() <= VIEW_MAX) {
                        device.node.write(offset, out.getFirst().asByteBuffer(), flags);
                    } else {
                        // several pieces: one flush at the end rather than one per piece
                        for (MemorySegment b : out) {
                            for (ByteBuffer v : views(b)) {
                                device.node.write(offset, v, 0);
                                offset += v.capacity();
                            }
                        }
                        if (flags != 0) device.node.flush();
                    }
                    return VIRTIO_BLK_S_OK;
                }
                case VIRTIO_BLK_T_FLUSH -> {
                    device.node.flush();
                    return VIRTIO_BLK_S_OK;
                }
                case VIRTIO_BLK_T_GET_ID -> {
                    byte[] id = new byte[VIRTIO_BLK_ID_BYTES];
                    byte[] serial = device.serial.getBytes(StandardCharsets.US_ASCII);
                    System.arraycopy(serial, 0, id, 0, Math.min(serial.length, id.length));
                    written[0] = scatter(id, in);
                    return VIRTIO_BLK_S_OK;
                }
                case VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES -> {
                    return discardOrZero(type, out);
                }
                default -> {
                    return VIRTIO_BLK_S_UNSUPP;
                }
            }
        } catch (IOException | RuntimeException | InternalError e) {
            // InternalError: a fault (SIGBUS) in guest memory whose file the front-end shrank
            return VIRTIO_BLK_S_IOERR;
        }
    }

    private byte discardOrZero(int type, List<MemorySegment> out) throws IOException {
        if (!device.writable) return VIRTIO_BLK_S_IOERR;
        long len = total(out);
        if (len < 16) return VIRTIO_BLK_S_IOERR;
        if (len > 16) return VIRTIO_BLK_S_UNSUPP; // more segments than max_*_seg = 1
        byte[] seg = gather(out, 16);
        ByteBuffer d = ByteBuffer.wrap(seg).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long sector = d.getLong(0);
        long sectors = Integer.toUnsignedLong(d.getInt(8));
        int flags = d.getInt(12);
        boolean discard = type == VIRTIO_BLK_T_DISCARD;
        if (sectors > (discard ? BlkDevice.MAX_DISCARD_SECTORS : BlkDevice.MAX_WRITE_ZEROES_SECTORS)) return VIRTIO_BLK_S_IOERR;
        long bytes = sectors * SECTOR;
        long offset = range(sector, bytes);
        if (offset < 0) return VIRTIO_BLK_S_IOERR;
        if (discard) {
            // the specification: a discard with the unmap flag (or any other) is UNSUPP
            if (flags != 0) return VIRTIO_BLK_S_UNSUPP;
            if (bytes > 0) device.node.discard(offset, bytes);
        } else {
            if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0) return VIRTIO_BLK_S_UNSUPP;
            int f = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0 ? BlockNode.MAY_UNMAP : 0;
            if (!device.writeCache) f |= BlockNode.FUA;
            if (bytes > 0) device.node.writeZeroes(offset, bytes, f);
        }
        return VIRTIO_BLK_S_OK;
    }

    /** The byte offset of a request for [sector, +len) when it is aligned and inside the disk, else -1. */
    private long range(long sector, long len) throws IOException {
        long size = device.node.size();
        int lbs = device.logicalBlockSize;
        if (Long.compareUnsigned(sector, size / SECTOR) > 0) return -1;
        long offset = sector * SECTOR;
        if (offset % lbs != 0 || len % lbs != 0) return -1;
        if (len > size - offset) return -1;
        return offset;
    }

    private static long total(List<MemorySegment> buffers) {
        long t = 0;
        for (MemorySegment b : buffers) t += b.byteSize();
        return t;
    }

    /** The first n bytes of the buffers, or null when they hold fewer. */
    private static byte[] gather(List<MemorySegment> buffers, int n) {
        byte[] out = new byte[n];
        int got = 0;
        for (MemorySegment b : buffers) {
            if (got == n) break;
            int take = (int) Math.min(n - got, b.byteSize());
            MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, out, got, take);
            got += take;
        }
        return got == n ? out : null;
    }

    /** Copies as much of data as fits into the buffers; returns the bytes copied. */
    private static int scatter(byte[] data, List<MemorySegment> buffers) {
        int done = 0;
        for (MemorySegment b : buffers) {
            if (done == data.length) break;
            int take = (int) Math.min(data.length - done, b.byteSize());
            MemorySegment.copy(data, done, b, ValueLayout.JAVA_BYTE, 0, take);
            done += take;
        }
        return done;
    }

    /** The buffers past the first n bytes. */
    private static List<MemorySegment> skip(List<MemorySegment> buffers, long n) {
        List<MemorySegment> out = new ArrayList<>(buffers.size());
        for (MemorySegment b : buffers) {
            if (n >= b.byteSize()) {
                n -= b.byteSize();
                continue;
            }
            out.add(b.asSlice(n));
            n = 0;
        }
        return out;
    }

    private static List<ByteBuffer> views(MemorySegment b) {
        if (b.byteSize() <= VIEW_MAX) return List.of(b.asByteBuffer());
        List<ByteBuffer> out = new ArrayList<>();
        for (long at = 0; at < b.byteSize(); at += VIEW_MAX) {
            out.add(b.asSlice(at, Math.min(VIEW_MAX, b.byteSize() - at)).asByteBuffer());
        }
        return out;
    }
}
