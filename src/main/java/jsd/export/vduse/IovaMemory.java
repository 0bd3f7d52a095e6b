package jsd.export.vduse;

import jsd.export.virtio.GuestAddressSpace;
import jsd.sys.FdPassing;
import jsd.sys.SharedMemory;
import jsd.sys.SysException;
import jsd.sys.Vduse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The driver's memory as VDUSE lets us see it: IOVA ranges (the kernel's
 * bounce buffers and coherent allocations), each mapped on first use from
 * the file VDUSE_IOTLB_GET_FD returns, and dropped again when the kernel
 * says the range changed (UPDATE_IOTLB) or the device is reset. Every
 * translation is bounds-checked against one mapped entry: a range that is
 * not wholly inside one translates to null and its request fails.
 * Read-only entries are mapped read-only on both sides, so a driver that
 * puts a device-writable buffer there gets an error, not a fault.
 */
final class IovaMemory implements GuestAddressSpace {
    /** Larger entries than this are refused (the bounce area is 64 MiB by default, at most 1 GiB). */
    private static final long ENTRY_MAX = 1L << 40;

    private record Mapping(long start, long last, MemorySegment memory, Arena arena) {
        boolean covers(long address, long end) {
            return Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(end, last) <= 0;
        }
    }

    private final int dev;
    private final String log;
    private final List<Mapping> mappings = new ArrayList<>(); // guarded by this

    IovaMemory(int dev, String log) {
        this.dev = dev;
        this.log = log;
    }

    @Override
    public MemorySegment guest(long address, long length) {
        if (length <= 0) return null;
        long end = address + length - 1;
        if (Long.compareUnsigned(end, address) < 0) return null; // wraps around
        Mapping m = find(address, end);
        if (m == null) return null;
        return m.memory.asSlice(address - m.start, length);
    }

    @Override
    public MemorySegment ring(long address, long length) { return guest(address, length); }

    private synchronized Mapping find(long address, long end) {
        for (Mapping m : mappings) if (m.covers(address, end)) return m;
        Mapping m = map(address);
        if (m == null || !m.covers(address, end)) return null;
        return m;
    }

    /** Asks the kernel for the entry holding address and maps it; null when there is none or it is unusable. */
    private Mapping map(long address) {
        Vduse.IotlbEntry e;
        try {
            e = Vduse.iotlbEntry(dev, address, address);
        } catch (SysException x) {
            System.err.println(log + "IOVA 0x" + Long.toHexString(address) + ": " + x.getMessage());
            return null;
        }
        if (e == null) return null;
        try {
            long size = e.last() - e.start() + 1;
            if (Long.compareUnsigned(e.start(), e.last()) > 0 || size <= 0 || size > ENTRY_MAX
                    || e.offset() < 0 || e.offset() % 4096 != 0
                    || Long.compareUnsigned(address, e.start()) < 0 || Long.compareUnsigned(address, e.last()) > 0
                    || (e.perm() & Vduse.ACCESS_RW) == 0) {
                System.err.println(log + "unusable IOTLB entry [0x" + Long.toHexString(e.start()) + ", 0x"
                        + Long.toHexString(e.last()) + "] offset " + e.offset() + " perm " + e.perm());
                return null;
            }
            for (Mapping m : mappings) {
                // an entry we hold already: the kernel changed it without telling us; keep ours
                if (Long.compareUnsigned(m.start, e.last()) <= 0 && Long.compareUnsigned(e.start(), m.last) <= 0) return null;
            }
            Arena arena = Arena.ofShared();
            MemorySegment mem;
            try {
                mem = SharedMemory.map(e.fd(), e.offset(), size, (e.perm() & Vduse.ACCESS_WO) != 0, arena);
            } catch (SysException | RuntimeException x) {
                arena.close();
                System.err.println(log + "mapping IOVA [0x" + Long.toHexString(e.start()) + ", 0x"
                        + Long.toHexString(e.last()) + "]: " + x.getMessage());
                return null;
            }
            Mapping m = new Mapping(e.start(), e.last(), mem, arena);
            mappings.add(m);
            return m;
        } finally {
            FdPassing.close(e.fd()); // the mapping keeps the memory
        }
    }

    /**
     * Unmaps every entry overlapping [start, last]. The caller has stopped
     * the queues first, so no request holds their memory any more.
     */
    void invalidate(long start, long last) {
        List<Mapping> gone = new ArrayList<>();
        synchronized (this) {
            mappings.removeIf(m -> {
                boolean overlap = Long.compareUnsigned(m.start, last) <= 0 && Long.compareUnsigned(start, m.last) <= 0;
                if (overlap) gone.add(m);
                return overlap;
            });
        }
        for (Mapping m : gone) close(m.arena);
    }

    void clear() { invalidate(0, -1L); }

    /** An I/O on this memory may still hold the arena for a moment: retry rather than pull pages from under it. */
    private static void close(Arena arena) {
        for (int attempt = 0; ; attempt++) {
            try {
                arena.close();
                return;
            } catch (IllegalStateException busy) {
                if (attempt > 6000) throw busy;
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
