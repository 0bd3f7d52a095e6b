package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** An eventfd(2) used to wake a thread waiting in poll (see {@link DeviceFile#awaitReadable}). */
public final class EventFd implements AutoCloseable {
    private static final int EFD_NONBLOCK = 04000;
    private static final int EFD_CLOEXEC = 02000000;
    private static final MethodHandle EVENTFD = Libc.fn("eventfd",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle WRITE = Libc.fn("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    private final int fd;
    private volatile boolean closed;

    private EventFd(int fd) { this.fd = fd; }

    public static EventFd create() throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            int r = (int) EVENTFD.invokeExact(cap, 0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, "eventfd: " + Errno.describe(e));
            }
            return new EventFd(r);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    int fd() { return fd; }

    /** Makes the descriptor readable (for good: it is never read). */
    public synchronized void signal() {
        if (closed) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1L);
            long ignored = (long) WRITE.invokeExact(Libc.CAPTURE_SEG.get(), fd, one, 8L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        DeviceFile.closeFd(fd);
    }
}
