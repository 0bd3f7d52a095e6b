package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Stream-socket I/O on a raw descriptor, with file descriptors passed as
 * SCM_RIGHTS ancillary data (Java's own unix channels cannot carry them).
 * Used by the vhost-user back-end, whose front-end sends eventfds and
 * memory fds along with its messages.
 */
public final class FdPassing {
    private FdPassing() {}

    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int EINTR = 4;
    private static final int SHUT_RDWR = 2;

    private static final MethodHandle RECVMSG = Libc.fn("recvmsg",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle SEND = Libc.fn("send",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT));
    private static final MethodHandle SHUTDOWN = Libc.fn("shutdown",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle ACCEPT4 = Libc.fn("accept4",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_INT));
    private static final MethodHandle GETSOCKOPT = Libc.fn("getsockopt",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    private static final MethodHandle GETSOCKNAME = Libc.fn("getsockname",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    private static final MethodHandle CLOSE = Libc.fn("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    /** What one recvmsg(2) call delivered: bytes read (0 at end of stream) and the descriptors that came with them. */
    public record Received(int bytes, int[] fds, boolean truncatedFds) {}

    /**
     * Reads up to dst.byteSize() bytes with recvmsg(2), taking at most
     * maxFds descriptors (received close-on-exec). When the sender passed
     * more, the kernel closes the surplus and truncatedFds is set; the
     * caller must still close the fds it got.
     */
    public static Received receive(int socket, MemorySegment dst, int maxFds) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            long controlLen = 16 + 8L * ((4L * maxFds + 7) / 8); // CMSG_SPACE(4 * maxFds)
            MemorySegment control = a.allocate(Math.max(controlLen, 16), 8);
            MemorySegment iov = a.allocate(16, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, dst.address());
            iov.set(ValueLayout.JAVA_LONG, 8, dst.byteSize());
            MemorySegment msg = a.allocate(56, 8); // struct msghdr, zeroed
            msg.set(ValueLayout.ADDRESS, 16, iov);
            msg.set(ValueLayout.JAVA_LONG, 24, 1L);
            msg.set(ValueLayout.ADDRESS, 32, control);
            msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            long r;
            do {
                r = (long) RECVMSG.invokeExact(cap, socket, msg, MSG_CMSG_CLOEXEC);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, "recvmsg: " + Errno.describe(e));
            }
            int flags = msg.get(ValueLayout.JAVA_INT, 48);
            long got = msg.get(ValueLayout.JAVA_LONG, 40);
            int[] fds = new int[0];
            // walk the control messages (CMSG_FIRSTHDR / CMSG_NXTHDR)
            long off = 0;
            while (off + 16 <= got) {
                long len = control.get(ValueLayout.JAVA_LONG, off);
                if (len < 16 || off + len > got) break;
                int level = control.get(ValueLayout.JAVA_INT, off + 8);
                int type = control.get(ValueLayout.JAVA_INT, off + 12);
                if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                    int n = (int) ((len - 16) / 4);
                    int[] more = new int[fds.length + n];
                    System.arraycopy(fds, 0, more, 0, fds.length);
                    for (int i = 0; i < n; i++) more[fds.length + i] = control.get(ValueLayout.JAVA_INT, off + 16 + 4L * i);
                    fds = more;
                }
                off += (len + 7) & ~7L;
            }
            return new Received((int) r, fds, (flags & MSG_CTRUNC) != 0);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Writes all of src (no SIGPIPE: a gone peer is an EPIPE exception). */
    public static void sendAll(int socket, MemorySegment src) throws SysException {
        long done = 0;
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            while (done < src.byteSize()) {
                long r = (long) SEND.invokeExact(cap, socket, src.asSlice(done), src.byteSize() - done, MSG_NOSIGNAL);
                if (r < 0) {
                    int e = Libc.errno(cap);
                    if (e == EINTR) continue;
                    throw new SysException(e, "send: " + Errno.describe(e));
                }
                done += r;
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** shutdown(2) both directions: wakes a thread blocked in {@link #receive} with end of stream. */
    public static void shutdown(int socket) {
        try {
            int r = (int) SHUTDOWN.invokeExact(Libc.CAPTURE_SEG.get(), socket, SHUT_RDWR);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * The descriptor number behind a socket channel, for
     * {@link #receive}. The JDK does not publish it; the launcher opens
     * sun.nio.ch and java.io to this code (see the jar's manifest). The
     * channel keeps owning the descriptor and closes it.
     */
    public static int fd(java.nio.channels.Channel channel) {
        try {
            java.lang.reflect.Field f = channel.getClass().getDeclaredField("fd");
            f.setAccessible(true);
            java.lang.reflect.Field n = java.io.FileDescriptor.class.getDeclaredField("fd");
            n.setAccessible(true);
            return n.getInt(f.get(channel));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot find a socket channel's descriptor", e);
        }
    }

    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SO_TYPE = 3;
    private static final int SOCK_STREAM = 1;
    private static final int AF_UNIX = 1;

    /**
     * accept4(2) on a listening socket: the new connection's descriptor
     * (blocking, close-on-exec), or -1 when none is pending (a
     * non-blocking listener; wait with poll first).
     */
    public static int accept(int listener) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            while (true) {
                int r = (int) ACCEPT4.invokeExact(cap, listener, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
                if (r >= 0) return r;
                int e = Libc.errno(cap);
                if (e == EINTR || e == 103 /* ECONNABORTED */) continue;
                if (e == Errno.EAGAIN) return -1;
                throw new SysException(e, "accept: " + Errno.describe(e));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Whether fd is an open stream socket. */
    public static boolean isStreamSocket(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(4, 4);
            MemorySegment len = a.allocate(4, 4);
            len.set(ValueLayout.JAVA_INT, 0, 4);
            int r = (int) GETSOCKOPT.invokeExact(Libc.CAPTURE_SEG.get(), fd, SOL_SOCKET, SO_TYPE, v, len);
            return r == 0 && v.get(ValueLayout.JAVA_INT, 0) == SOCK_STREAM;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The file system path a unix socket is bound to, or null (another family, abstract, unnamed). */
    public static String unixPath(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = a.allocate(112, 8); // struct sockaddr_un, and a NUL after it
            MemorySegment len = a.allocate(4, 4);
            len.set(ValueLayout.JAVA_INT, 0, 110);
            int r = (int) GETSOCKNAME.invokeExact(Libc.CAPTURE_SEG.get(), fd, addr, len);
            int n = len.get(ValueLayout.JAVA_INT, 0);
            if (r != 0 || addr.get(ValueLayout.JAVA_SHORT, 0) != AF_UNIX || n <= 2 || addr.get(ValueLayout.JAVA_BYTE, 2) == 0) {
                return null;
            }
            return addr.asSlice(2, 109).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** close(2), errors ignored (the descriptor is gone either way on Linux). */
    public static void close(int fd) {
        if (fd < 0) return;
        try {
            int r = (int) CLOSE.invokeExact(Libc.CAPTURE_SEG.get(), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
