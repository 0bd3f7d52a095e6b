package jsd.export.virtio;

import java.lang.foreign.MemorySegment;

/**
 * How a transport reaches the driver's memory: the addresses in
 * descriptors (guest physical addresses for vhost-user, IOVAs for VDUSE)
 * and the ring addresses, each translated into a bounds-checked segment.
 * A range that is not wholly mapped translates to null; nothing outside
 * the mappings is ever touched.
 */
public interface GuestAddressSpace {
    /** [address, address + length) of a buffer a descriptor names, or null. */
    MemorySegment guest(long address, long length);

    /** [address, address + length) of a descriptor table or ring, or null. */
    MemorySegment ring(long address, long length);
}
