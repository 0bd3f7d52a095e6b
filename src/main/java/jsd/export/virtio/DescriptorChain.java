package jsd.export.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static jsd.export.virtio.Virtio.*;

/**
 * One request's buffers, gathered from a split virtqueue's descriptor
 * table (and at most one indirect table): the device-readable buffers
 * first, then the device-writable ones. Every descriptor is read once,
 * so a guest changing the table meanwhile cannot make us see two
 * different values; every index is checked against its table and the
 * walk stops after as many steps as the table has entries (a loop is an
 * error, never a hang). A buffer whose address lies outside guest memory
 * is kept as null: the request then fails with IOERR.
 */
public record DescriptorChain(int head, List<MemorySegment> readable, List<MemorySegment> writable, boolean badAddress) {
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Merged buffers stay below 1 GiB (ByteBuffer views are int-sized). */
    private static final long MERGE_MAX = 1L << 30;

    static DescriptorChain walk(MemorySegment descTable, int queueSize, int head, GuestAddressSpace memory, boolean indirectAllowed)
            throws RingError {
        Gather g = new Gather(memory);
        MemorySegment table = descTable;
        int tableSize = queueSize;
        boolean inIndirect = false;
        int index = head;
        int steps = 0;
        while (true) {
            if (index < 0 || index >= tableSize) {
                throw new RingError("descriptor index " + index + " outside a table of " + tableSize);
            }
            if (++steps > tableSize) throw new RingError("descriptor chain from head " + head + " loops");
            long at = 16L * index;
            long address = table.get(U64, at);
            long length = Integer.toUnsignedLong(table.get(U32, at + 8));
            int flags = Short.toUnsignedInt(table.get(U16, at + 12));
            int next = Short.toUnsignedInt(table.get(U16, at + 14));
            if ((flags & VRING_DESC_F_INDIRECT) != 0) {
                if (!indirectAllowed) throw new RingError("indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
                if (inIndirect) throw new RingError("indirect descriptor inside an indirect table");
                if ((flags & VRING_DESC_F_NEXT) != 0) throw new RingError("indirect descriptor with NEXT set");
                if (length == 0 || length % 16 != 0 || length / 16 > MAX_QUEUE_SIZE) {
                    throw new RingError("indirect table of " + length + " bytes");
                }
                MemorySegment t = memory.guest(address, length);
                if (t == null) throw new RingError("indirect table outside guest memory");
                table = t;
                tableSize = (int) (length / 16);
                inIndirect = true;
                index = 0;
                steps = 0;
                continue;
            }
            boolean write = (flags & VRING_DESC_F_WRITE) != 0;
            if (!write && g.sawWritable) throw new RingError("device-readable descriptor after a writable one");
            g.add(address, length, write);
            if ((flags & VRING_DESC_F_NEXT) == 0) break;
            index = next;
        }
        g.flush();
        return new DescriptorChain(head, g.readable, g.writable, g.bad);
    }

    /**
     * Collects the buffers, merging descriptors that continue one another
     * in guest memory (a guest's pages are often contiguous): one segment,
     * hence one system call, instead of one per page.
     */
    private static final class Gather {
        final GuestAddressSpace memory;
        final List<MemorySegment> readable = new ArrayList<>(4);
        final List<MemorySegment> writable = new ArrayList<>(4);
        boolean bad;
        boolean sawWritable;
        long start;
        long length;
        boolean write;

        Gather(GuestAddressSpace memory) { this.memory = memory; }

        void add(long address, long len, boolean w) {
            if (w) sawWritable = true;
            if (len == 0) return;
            if (length > 0 && w == write && start + length == address && length + len <= MERGE_MAX) {
                MemorySegment merged = memory.guest(start, length + len);
                if (merged != null) {
                    length += len;
                    return;
                }
            }
            flush();
            start = address;
            length = len;
            write = w;
        }

        void flush() {
            if (length == 0) return;
            MemorySegment s = memory.guest(start, length);
            if (s == null) bad = true;
            (write ? writable : readable).add(s);
            length = 0;
        }
    }
}
