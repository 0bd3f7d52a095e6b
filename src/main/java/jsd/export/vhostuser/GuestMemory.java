package jsd.export.vhostuser;

import jsd.export.virtio.GuestAddressSpace;
import jsd.sys.FdPassing;
import jsd.sys.SharedMemory;
import jsd.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest's RAM as the front-end shared it with SET_MEM_TABLE: regions
 * mapped from their fds, and the translation of guest physical addresses
 * (in descriptors) and front-end virtual addresses (of the rings) into
 * bounds-checked segments. An address range that does not lie wholly
 * inside one region translates to null: nothing outside the mappings is
 * ever touched. Closing unmaps everything; callers make sure no request
 * uses the memory any more first (the FFM runtime refuses to close while
 * an I/O on one of its buffers is in progress, see {@link #close}).
 */
final class GuestMemory implements GuestAddressSpace, AutoCloseable {
    private record Region(long guestAddress, long size, long userAddress, MemorySegment memory) {}

    private final Arena arena;
    private final Region[] regions;

    private GuestMemory(Arena arena, Region[] regions) {
        this.arena = arena;
        this.regions = regions;
    }

    /** Maps the regions of a SET_MEM_TABLE message; takes (and closes) its descriptors. */
    static GuestMemory map(Message m) throws ProtocolError {
        if (m.size() < 8) throw new ProtocolError("SET_MEM_TABLE shorter than its header");
        int n = m.u32(0);
        if (n < 1 || n > VhostUser.MAX_REGIONS) throw new ProtocolError("SET_MEM_TABLE with " + Integer.toUnsignedString(n) + " regions");
        m.expectSize(8 + 32 * n);
        m.expectFds(n);
        Arena arena = Arena.ofShared();
        List<Region> out = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                int base = 8 + 32 * i;
                long gpa = m.u64(base);
                long size = m.u64(base + 8);
                long uva = m.u64(base + 16);
                long offset = m.u64(base + 24);
                int fd = m.takeFd(i);
                try {
                    if (size <= 0 || size > (1L << 48) || offset < 0 || offset > (1L << 48)) {
                        throw new ProtocolError("memory region " + i + " with size " + Long.toUnsignedString(size)
                                + " at mmap offset " + Long.toUnsignedString(offset));
                    }
                    if (Long.compareUnsigned(gpa, -1L - size) > 0 || Long.compareUnsigned(uva, -1L - size) > 0) {
                        throw new ProtocolError("memory region " + i + " wraps around the address space");
                    }
                    long fileSize = SharedMemory.fileSize(fd);
                    // a mapping past the end of the file would fault (SIGBUS) when touched
                    if (offset + size > fileSize) {
                        throw new ProtocolError("memory region " + i + " reaches past the end of its file ("
                                + (offset + size) + " > " + fileSize + " bytes)");
                    }
                    MemorySegment whole = SharedMemory.map(fd, offset + size, arena);
                    out.add(new Region(gpa, size, uva, whole.asSlice(offset, size)));
                } catch (SysException e) {
                    throw new ProtocolError("memory region " + i + ": " + e.getMessage());
                } finally {
                    FdPassing.close(fd); // the mapping keeps the memory
                }
            }
        } catch (ProtocolError | RuntimeException e) {
            arena.close();
            throw e;
        }
        return new GuestMemory(arena, out.toArray(new Region[0]));
    }

    /** [address, address + length) in guest physical addresses, or null when not inside one region. */
    @Override
    public MemorySegment guest(long address, long length) {
        for (Region r : regions) {
            MemorySegment s = slice(r, r.guestAddress, address, length);
            if (s != null) return s;
        }
        return null;
    }

    /** Rings are named by the front-end's virtual addresses. */
    @Override
    public MemorySegment ring(long address, long length) { return user(address, length); }

    /** [address, address + length) in the front-end's virtual addresses (ring addresses), or null. */
    MemorySegment user(long address, long length) {
        for (Region r : regions) {
            MemorySegment s = slice(r, r.userAddress, address, length);
            if (s != null) return s;
        }
        return null;
    }

    private static MemorySegment slice(Region r, long start, long address, long length) {
        long delta = address - start;
        if (Long.compareUnsigned(delta, r.size) >= 0) return null;
        if (length < 0 || length > r.size - delta) return null;
        return r.memory.asSlice(delta, length);
    }

    /**
     * Unmaps the regions. An I/O still running on a buffer of this memory
     * keeps the arena acquired; this retries until it has finished rather
     * than pull the pages from under it.
     */
    @Override
    public void close() {
        for (int attempt = 0; ; attempt++) {
            try {
                arena.close();
                return;
            } catch (IllegalStateException busy) {
                if (attempt > 6000) throw busy; // a minute: something is badly stuck
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw busy;
                }
            }
        }
    }
}
