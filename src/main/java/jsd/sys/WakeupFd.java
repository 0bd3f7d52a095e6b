package jsd.sys;

/**
 * An eventfd owned as an object, used to wake a thread waiting in poll (see
 * {@link DeviceFile#awaitReadable}): once signalled it stays readable, since
 * it is never read.
 */
public final class WakeupFd implements AutoCloseable {
    private final int fd;
    private boolean closed;

    private WakeupFd(int fd) { this.fd = fd; }

    public static WakeupFd create() throws SysException { return new WakeupFd(EventFd.create()); }

    int fd() { return fd; }

    public synchronized void signal() {
        if (closed) return;
        try {
            EventFd.signal(fd);
        } catch (SysException e) {
            throw new IllegalStateException("eventfd write failed", e);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        DeviceFile.closeFd(fd);
    }
}
