package jsd.export.vhostuser;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static jsd.export.vhostuser.VhostUser.*;

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
record DescriptorChain(int head, List<MemorySegment> readable, List<MemorySegment> writable, boolean badAddress) {
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    static DescriptorChain walk(MemorySegment descTable, int queueSize, int head, GuestMemory memory, boolean indirectAllowed)
            throws RingError {
        List<MemorySegment> readable = new ArrayList<>(4);
        List<MemorySegment> writable = new ArrayList<>(4);
        boolean bad = false;
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
            MemorySegment buffer = length == 0 ? null : memory.guest(address, length);
            if (length != 0 && buffer == null) bad = true;
            if ((flags & VRING_DESC_F_WRITE) != 0) {
                if (length != 0 || buffer != null) writable.add(buffer);
            } else {
                if (!writable.isEmpty()) throw new RingError("device-readable descriptor after a writable one");
                if (length != 0) readable.add(buffer);
            }
            if ((flags & VRING_DESC_F_NEXT) == 0) break;
            index = next;
        }
        return new DescriptorChain(head, readable, writable, bad);
    }
}
