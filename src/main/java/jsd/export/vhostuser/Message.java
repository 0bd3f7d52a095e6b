package jsd.export.vhostuser;

import jsd.sys.FdPassing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One front-end message: header fields, payload (little-endian, the
 * machine's order on x86) and the descriptors that came with it. The
 * handler takes the descriptors it keeps; {@link #closeUnusedFds} closes
 * the rest, so a message with unexpected descriptors leaks none.
 */
final class Message {
    final int request;
    final int flags;
    final ByteBuffer payload;
    private final int[] fds;

    Message(int request, int flags, byte[] payload, int[] fds) {
        this.request = request;
        this.flags = flags;
        this.payload = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        this.fds = fds;
    }

    int size() { return payload.capacity(); }

    boolean needReply() { return (flags & VhostUser.FLAG_NEED_REPLY) != 0; }

    int fdCount() {
        int n = 0;
        for (int fd : fds) if (fd >= 0) n++;
        return n;
    }

    /** Takes ownership of the i-th descriptor. */
    int takeFd(int i) {
        int fd = fds[i];
        fds[i] = -1;
        return fd;
    }

    void closeUnusedFds() {
        for (int i = 0; i < fds.length; i++) {
            FdPassing.close(fds[i]);
            fds[i] = -1;
        }
    }

    void expectSize(int size) throws ProtocolError {
        if (size() != size) {
            throw new ProtocolError(VhostUser.requestName(request) + " with a payload of " + size() + " bytes, expected " + size);
        }
    }

    void expectFds(int n) throws ProtocolError {
        if (fdCount() != n) {
            throw new ProtocolError(VhostUser.requestName(request) + " with " + fdCount() + " file descriptors, expected " + n);
        }
    }

    long u64(int offset) { return payload.getLong(offset); }

    int u32(int offset) { return payload.getInt(offset); }
}
