package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * mmap(2) of a file descriptor shared with another process (MAP_SHARED),
 * e.g. a vhost-user front-end's guest RAM. The mapping becomes a segment
 * of the given arena: closing the arena unmaps it, and the FFM runtime
 * makes sure no thread still reads or writes it then.
 */
public final class SharedMemory {
    private SharedMemory() {}

    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_SHARED = 1;
    private static final int MAP_NORESERVE = 0x4000;
    private static final int SEEK_END = 2;

    private static final MethodHandle MMAP = Libc.fn("mmap",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle MUNMAP = Libc.fn("munmap",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle LSEEK = Libc.fn("lseek",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    /**
     * The size of the file behind fd (lseek SEEK_END). A mapping that
     * reaches past it would fault (SIGBUS) on access, so callers check
     * against this first.
     */
    public static long fileSize(int fd) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            long r = (long) LSEEK.invokeExact(cap, fd, 0L, SEEK_END);
            if (r < 0) throw new SysException(Libc.errno(cap), "lseek: " + Errno.describe(Libc.errno(cap)));
            return r;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Maps length bytes of fd from file offset 0, read-write and shared; unmapped when arena closes. */
    public static MemorySegment map(int fd, long length, Arena arena) throws SysException {
        if (length <= 0) throw new IllegalArgumentException("length " + length);
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        long addr;
        try {
            addr = (long) MMAP.invokeExact(cap, 0L, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (addr == -1L) throw new SysException(Libc.errno(cap), "mmap: " + Errno.describe(Libc.errno(cap)));
        return MemorySegment.ofAddress(addr).reinterpret(length, arena, s -> unmap(addr, length));
    }

    /**
     * Maps length bytes of fd from a page-aligned file offset, shared;
     * read-only (also for the Java side: writes through the segment
     * throw instead of faulting) unless writable.
     */
    public static MemorySegment map(int fd, long offset, long length, boolean writable, Arena arena) throws SysException {
        if (length <= 0 || offset < 0) throw new IllegalArgumentException("length " + length + " offset " + offset);
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        long addr;
        try {
            addr = (long) MMAP.invokeExact(cap, 0L, length, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, offset);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (addr == -1L) throw new SysException(Libc.errno(cap), "mmap: " + Errno.describe(Libc.errno(cap)));
        MemorySegment s = MemorySegment.ofAddress(addr).reinterpret(length, arena, x -> unmap(addr, length));
        return writable ? s : s.asReadOnly();
    }

    private static void unmap(long addr, long length) {
        try {
            int r = (int) MUNMAP.invokeExact(Libc.CAPTURE_SEG.get(), addr, length);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
