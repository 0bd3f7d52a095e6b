package jsd.sys;

import java.io.FileDescriptor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.nio.channels.FileChannel;

/**
 * Every foreign call the daemon makes goes through here, with errno captured
 * and turned into a {@link SysException}. Nothing outside this package
 * touches the FFM API's native side.
 */
public final class Libc {
    private Libc() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(
            java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));

    public static final int SEEK_DATA = 3;
    public static final int SEEK_HOLE = 4;
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    static MethodHandle fn(String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), d,
                Linker.Option.captureCallState("errno"));
    }

    /** A variadic function (ioctl, open with a mode): arguments from firstVariadic on are passed as C varargs. */
    static MethodHandle variadic(String name, FunctionDescriptor d, int firstVariadic) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), d,
                Linker.Option.firstVariadicArg(firstVariadic), Linker.Option.captureCallState("errno"));
    }

    private static final MethodHandle LSEEK = fn("lseek",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle FALLOCATE = fn("fallocate",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle FCNTL_PTR = fn("fcntl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));

    static final ThreadLocal<MemorySegment> CAPTURE_SEG =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    static int errno(MemorySegment capture) { return (int) ERRNO.get(capture, 0L); }

    /** lseek(2) with SEEK_DATA/SEEK_HOLE; returns -1 for ENXIO (no more data past offset). */
    public static long seek(int fd, long offset, int whence) throws SysException {
        MemorySegment cap = CAPTURE_SEG.get();
        try {
            long r = (long) LSEEK.invokeExact(cap, fd, offset, whence);
            if (r < 0) {
                int e = errno(cap);
                if (e == Errno.ENXIO) return -1;
                throw new SysException(e, "lseek: " + Errno.describe(e));
            }
            return r;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** fallocate(2); throws with errno (EOPNOTSUPP when the file system cannot). */
    public static void fallocate(int fd, int mode, long offset, long length) throws SysException {
        MemorySegment cap = CAPTURE_SEG.get();
        try {
            int r = (int) FALLOCATE.invokeExact(cap, fd, mode, offset, length);
            if (r < 0) {
                int e = errno(cap);
                throw new SysException(e, "fallocate: " + Errno.describe(e));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static final MethodHandle PREADV2 = fn("preadv2",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final int RWF_NOWAIT = 0x08;
    private static final ThreadLocal<MemorySegment> IOVEC = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(16, 8));

    /** {@link #preadNoWait}'s answer when the data is not in the page cache. */
    public static final int WOULD_BLOCK = -1;
    /** {@link #preadNoWait}'s answer when the file (system) does not support RWF_NOWAIT. */
    public static final int NOWAIT_UNSUPPORTED = -2;

    /**
     * preadv2(2) with RWF_NOWAIT into a direct buffer: reads only what the
     * page cache already holds, never waiting for the disk. Returns the
     * bytes read (the buffer's position advances; fewer than asked when
     * only part was cached or the file ended), {@link #WOULD_BLOCK} or
     * {@link #NOWAIT_UNSUPPORTED}. Lets a server answer cached reads on
     * the thread that received them and hand only the rest to others.
     */
    public static int preadNoWait(int fd, java.nio.ByteBuffer dst, long offset) throws SysException {
        if (!dst.isDirect()) throw new IllegalArgumentException("direct buffer required");
        MemorySegment cap = CAPTURE_SEG.get();
        MemorySegment iov = IOVEC.get();
        MemorySegment buf = MemorySegment.ofBuffer(dst);
        iov.set(ValueLayout.JAVA_LONG, 0, buf.address());
        iov.set(ValueLayout.JAVA_LONG, 8, buf.byteSize());
        try {
            long r = (long) PREADV2.invokeExact(cap, fd, iov, 1, offset, RWF_NOWAIT);
            if (r < 0) {
                int e = errno(cap);
                if (e == Errno.EAGAIN) return WOULD_BLOCK;
                if (e == Errno.ENOTSUP || e == Errno.EINVAL) return NOWAIT_UNSUPPORTED;
                throw new SysException(e, "preadv2: " + Errno.describe(e));
            }
            dst.position(dst.position() + (int) r);
            return (int) r;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    public static final short F_RDLCK = 0;
    public static final short F_WRLCK = 1;
    public static final short F_UNLCK = 2;

    /**
     * An open-file-description lock on one byte (struct flock: l_type,
     * l_whence, l_start, l_len, l_pid). QEMU's image locking uses these at
     * fixed offsets; jsd takes the same bytes so the two see each other.
     */
    public static boolean ofdLock(int fd, short type, long offset, boolean test) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fl = a.allocate(32);
            fl.set(ValueLayout.JAVA_SHORT, 0, type);
            fl.set(ValueLayout.JAVA_SHORT, 2, (short) 0); // SEEK_SET
            fl.set(ValueLayout.JAVA_LONG, 8, offset);
            fl.set(ValueLayout.JAVA_LONG, 16, 1L);
            fl.set(ValueLayout.JAVA_INT, 24, 0);
            MemorySegment cap = CAPTURE_SEG.get();
            int r = (int) FCNTL_PTR.invokeExact(cap, fd, test ? F_OFD_GETLK : F_OFD_SETLK, fl);
            if (r < 0) {
                int e = errno(cap);
                if (!test && (e == Errno.EAGAIN || e == Errno.EACCES)) return false;
                throw new SysException(e, "fcntl: " + Errno.describe(e));
            }
            if (test) return fl.get(ValueLayout.JAVA_SHORT, 0) == F_UNLCK;
            return true;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static final MethodHandle SETSID = fn("setsid", FunctionDescriptor.of(ValueLayout.JAVA_INT));
    private static final MethodHandle OPEN = fn("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle DUP2 = fn("dup2",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    /** Detaches from the controlling terminal (setsid) and points stdin/stdout/stderr at /dev/null. */
    public static void detach() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = CAPTURE_SEG.get();
            int r = (int) SETSID.invokeExact(cap);
            if (r < 0 && errno(cap) != Errno.EPERM) throw new SysException(errno(cap), "setsid: " + Errno.describe(errno(cap)));
            int nul = (int) OPEN.invokeExact(cap, a.allocateFrom("/dev/null"), 2 /* O_RDWR */);
            if (nul < 0) throw new SysException(errno(cap), "open /dev/null: " + Errno.describe(errno(cap)));
            for (int fd = 0; fd <= 2; fd++) {
                int d = (int) DUP2.invokeExact(cap, nul, fd);
                if (d < 0) throw new SysException(errno(cap), "dup2: " + Errno.describe(errno(cap)));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static final Field CHANNEL_FD;
    private static final Field DESCRIPTOR_FD;

    static {
        try {
            Class<?> impl = Class.forName("sun.nio.ch.FileChannelImpl");
            CHANNEL_FD = impl.getDeclaredField("fd");
            CHANNEL_FD.setAccessible(true);
            DESCRIPTOR_FD = FileDescriptor.class.getDeclaredField("fd");
            DESCRIPTOR_FD.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * The file descriptor number behind a FileChannel. The JDK does not
     * publish it; the launcher opens java.base's internals to this class
     * (--add-opens) for exactly this.
     */
    public static int fd(FileChannel channel) {
        try {
            return DESCRIPTOR_FD.getInt(CHANNEL_FD.get(channel));
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
