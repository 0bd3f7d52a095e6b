package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * eventfd(2) counters and poll(2) on them: the kick, call and error
 * notifications of vhost-user virtqueues. The front-end's eventfds are
 * usually non-blocking (the flag lives in the shared open file
 * description), so waiting is done with poll, never a blocking read.
 */
public final class EventFd {
    private EventFd() {}

    private static final int EFD_CLOEXEC = 0x80000;
    private static final int EFD_NONBLOCK = 0x800;
    private static final int EINTR = 4;
    public static final short POLLIN = 0x1;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;

    private static final MethodHandle EVENTFD = Libc.fn("eventfd",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle READ = Libc.fn("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle WRITE = Libc.fn("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle POLL = Libc.fn("poll",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    private static final ThreadLocal<MemorySegment> WORD = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 8));

    /** A new non-blocking, close-on-exec eventfd with counter 0. */
    public static int create() throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            int fd = (int) EVENTFD.invokeExact(cap, 0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (fd < 0) throw new SysException(Libc.errno(cap), "eventfd: " + Errno.describe(Libc.errno(cap)));
            return fd;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Adds 1 to the counter; a full counter (EAGAIN) means the peer is signalled already. */
    public static void signal(int fd) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        MemorySegment w = WORD.get();
        w.set(ValueLayout.JAVA_LONG, 0, 1L);
        try {
            long r;
            do {
                r = (long) WRITE.invokeExact(cap, fd, w, 8L);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0 && Libc.errno(cap) != Errno.EAGAIN) {
                throw new SysException(Libc.errno(cap), "eventfd write: " + Errno.describe(Libc.errno(cap)));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Resets the counter to 0 if it was signalled; returns whether it was (EAGAIN: it was not). */
    public static boolean drain(int fd) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            long r;
            do {
                r = (long) READ.invokeExact(cap, fd, WORD.get(), 8L);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) {
                int e = Libc.errno(cap);
                if (e == Errno.EAGAIN) return false;
                throw new SysException(e, "eventfd read: " + Errno.describe(e));
            }
            return true;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Waits until one of fds is readable (or has an error), without a
     * time limit; returns each descriptor's revents, in order. Blocks the
     * calling (platform) thread in the kernel.
     */
    public static short[] poll(int... fds) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(8L * fds.length, 8);
            for (int i = 0; i < fds.length; i++) {
                p.set(ValueLayout.JAVA_INT, 8L * i, fds[i]);
                p.set(ValueLayout.JAVA_SHORT, 8L * i + 4, POLLIN);
            }
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r;
            do {
                r = (int) POLL.invokeExact(cap, p, (long) fds.length, -1);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) throw new SysException(Libc.errno(cap), "poll: " + Errno.describe(Libc.errno(cap)));
            short[] out = new short[fds.length];
            for (int i = 0; i < fds.length; i++) out[i] = p.get(ValueLayout.JAVA_SHORT, 8L * i + 6);
            return out;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
