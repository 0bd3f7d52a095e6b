package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;

/**
 * A character device opened with open(2) and used with plain read(2) and
 * write(2) on direct buffers, for devices whose every read and write is one
 * whole message (/dev/fuse). The descriptor is non-blocking; a reader
 * waits with {@link #awaitReadable}, which an {@link WakeupFd} can cut short.
 */
public final class DeviceFile implements AutoCloseable {
    private static final int O_RDWR = 02;
    private static final int O_NONBLOCK = 04000;
    private static final int O_CLOEXEC = 02000000;

    /** {@link #read}'s answer when no message is waiting. */
    public static final int AGAIN = -1;
    /** {@link #read}'s answer when the device has gone away (ENODEV: the file system was unmounted). */
    public static final int GONE = -2;

    private static final MethodHandle OPEN = Libc.fn("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle READ = Libc.fn("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle WRITE = Libc.fn("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle CLOSE = Libc.fn("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final int fd;
    private volatile boolean closed;

    private DeviceFile(int fd) { this.fd = fd; }

    /** Opens a device read-write, non-blocking, close-on-exec. */
    public static DeviceFile open(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r = (int) OPEN.invokeExact(cap, a.allocateFrom(path), O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, "open " + path + ": " + Errno.describe(e));
            }
            return new DeviceFile(r);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public int fd() { return fd; }

    /**
     * Reads one message into dst from its position to its limit. Returns
     * the length read (the position advances), {@link #AGAIN} or
     * {@link #GONE}. A message the kernel dropped meanwhile (ENOENT) and
     * EINTR are retried.
     */
    public int read(ByteBuffer dst) throws SysException {
        if (!dst.isDirect()) throw new IllegalArgumentException("direct buffer required");
        MemorySegment seg = MemorySegment.ofBuffer(dst);
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        while (true) {
            long r;
            try {
                r = (long) READ.invokeExact(cap, fd, seg, seg.byteSize());
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (r >= 0) {
                dst.position(dst.position() + (int) r);
                return (int) r;
            }
            int e = Libc.errno(cap);
            if (e == Errno.EINTR || e == Errno.ENOENT) continue;
            if (e == Errno.EAGAIN) return AGAIN;
            if (e == Errno.ENODEV) return GONE;
            throw new SysException(e, "read: " + Errno.describe(e));
        }
    }

    /** Writes src (position to limit) as one message; the position advances. */
    public void write(ByteBuffer src) throws SysException {
        if (!src.isDirect()) throw new IllegalArgumentException("direct buffer required");
        MemorySegment seg = MemorySegment.ofBuffer(src);
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        while (true) {
            long r;
            try {
                r = (long) WRITE.invokeExact(cap, fd, seg, seg.byteSize());
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (r >= 0) {
                src.position(src.position() + (int) r);
                return;
            }
            int e = Libc.errno(cap);
            if (e == Errno.EINTR) continue;
            throw new SysException(e, "write: " + Errno.describe(e));
        }
    }

    /**
     * Blocks (a platform thread should call this: the call pins a virtual
     * one) until this device is readable or wake has been signalled.
     * Returns false when woken.
     */
    public boolean awaitReadable(WakeupFd wake) throws SysException {
        short[] ready = EventFd.poll(fd, wake.fd());
        return ready[1] == 0; // poll returned, so the device is readable (or gone: read says which)
    }

    static void closeFd(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(Libc.CAPTURE_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Closes the descriptor once; later calls do nothing. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        closeFd(fd);
    }
}
