package jsd.export.vhostuser;

import jsd.net.SocketAddresses;
import jsd.sys.EventFd;
import jsd.sys.FdPassing;
import jsd.sys.SysException;

import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where front-ends connect: a unix socket the export bound itself, or a
 * listening socket inherited as a descriptor (addr.type=fd). Connections
 * are accepted as raw descriptors, since the vhost-user session needs
 * recvmsg with SCM_RIGHTS on them. {@link #close} wakes a waiting accept
 * and removes the socket file at once; the descriptor itself is released
 * by the accepting thread when it leaves (never under its feet).
 */
final class FrontendListener {
    private final int fd;
    private final int wakeFd;
    private final Runnable release;
    private final Runnable unlink;
    private volatile boolean closed;

    private FrontendListener(int fd, Runnable release, Runnable unlink) throws SysException {
        this.fd = fd;
        this.wakeFd = EventFd.create();
        this.release = release;
        this.unlink = unlink;
    }

    static FrontendListener of(ServerSocketChannel channel) throws SysException {
        return new FrontendListener(FdPassing.fd(channel), () -> {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }, () -> SocketAddresses.unlinkIfUnix(channel));
    }

    /** A listening socket passed in by whoever started the daemon. */
    static FrontendListener inherited(int fd) throws SysException {
        String path = FdPassing.unixPath(fd);
        return new FrontendListener(fd, () -> FdPassing.close(fd), () -> {
            if (path == null) return;
            try {
                Files.deleteIfExists(Path.of(path));
            } catch (IOException ignored) {
                // gone already
            }
        });
    }

    /** The next connection's descriptor (the caller owns it), or -1 once the listener is closed. */
    int accept() throws SysException {
        while (!closed) {
            short[] ev = EventFd.poll(fd, wakeFd);
            if (closed) break;
            if ((ev[0] & (EventFd.POLLERR | EventFd.POLLNVAL)) != 0) throw new SysException(0, "listening socket failed");
            if ((ev[0] & EventFd.POLLIN) != 0) {
                int c = FdPassing.accept(fd);
                if (c >= 0) return c;
            }
        }
        return -1;
    }

    /** Stops accepting and removes the socket file. */
    void close() {
        if (closed) return;
        closed = true;
        try {
            EventFd.signal(wakeFd);
        } catch (SysException e) {
            throw new IllegalStateException(e);
        }
        unlink.run();
    }

    /** Called by the accepting thread once it is done with the listener. */
    void release() {
        release.run();
        FdPassing.close(wakeFd);
    }
}
