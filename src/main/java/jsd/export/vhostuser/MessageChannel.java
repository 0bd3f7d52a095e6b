package jsd.export.vhostuser;

import jsd.sys.FdPassing;
import jsd.sys.SysException;

import java.io.EOFException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Reads front-end messages from, and writes replies to, the connected
 * socket's descriptor. Runs on the session's own (platform) thread.
 */
final class MessageChannel implements AutoCloseable {
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment header = arena.allocate(12, 8);
    private final MemorySegment body = arena.allocate(VhostUser.MAX_PAYLOAD, 8);
    private final MemorySegment reply = arena.allocate(12 + VhostUser.MAX_PAYLOAD, 8);

    MessageChannel(int fd) { this.fd = fd; }

    /** The next message, or null when the front-end closed the connection between messages. */
    Message read() throws SysException, ProtocolError, EOFException {
        int[] fds = new int[0];
        try {
            long got = 0;
            while (got < 12) {
                FdPassing.Received r = FdPassing.receive(fd, header.asSlice(got), VhostUser.MAX_REGIONS);
                fds = concat(fds, r.fds());
                if (r.truncatedFds()) throw new ProtocolError("more file descriptors than a message may carry");
                if (r.bytes() == 0) {
                    if (got == 0 && fds.length == 0) return null;
                    throw new EOFException("connection closed inside a message header");
                }
                got += r.bytes();
            }
            int request = header.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
            int flags = header.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
            int size = header.get(ValueLayout.JAVA_INT_UNALIGNED, 8);
            if ((flags & VhostUser.VERSION_MASK) != VhostUser.VERSION) {
                throw new ProtocolError("message with protocol version " + (flags & VhostUser.VERSION_MASK));
            }
            if (size < 0 || size > VhostUser.MAX_PAYLOAD) {
                throw new ProtocolError(VhostUser.requestName(request) + " with a payload of " + Integer.toUnsignedString(size) + " bytes");
            }
            got = 0;
            while (got < size) {
                FdPassing.Received r = FdPassing.receive(fd, body.asSlice(got, size - got), VhostUser.MAX_REGIONS);
                fds = concat(fds, r.fds());
                if (r.truncatedFds() || fds.length > VhostUser.MAX_REGIONS) {
                    throw new ProtocolError("more file descriptors than a message may carry");
                }
                if (r.bytes() == 0) throw new EOFException("connection closed inside a message");
                got += r.bytes();
            }
            byte[] payload = body.asSlice(0, size).toArray(ValueLayout.JAVA_BYTE);
            Message m = new Message(request, flags, payload, fds);
            fds = null;
            return m;
        } finally {
            if (fds != null) for (int f : fds) FdPassing.close(f);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        if (b.length == 0) return a;
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Sends a reply to request with the given payload. */
    void reply(int request, byte[] payload) throws SysException {
        reply.set(ValueLayout.JAVA_INT_UNALIGNED, 0, request);
        reply.set(ValueLayout.JAVA_INT_UNALIGNED, 4, VhostUser.VERSION | VhostUser.FLAG_REPLY);
        reply.set(ValueLayout.JAVA_INT_UNALIGNED, 8, payload.length);
        MemorySegment.copy(payload, 0, reply, ValueLayout.JAVA_BYTE, 12, payload.length);
        FdPassing.sendAll(fd, reply.asSlice(0, 12 + payload.length));
    }

    void replyU64(int request, long value) throws SysException {
        byte[] b = new byte[8];
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(value);
        reply(request, b);
    }

    @Override
    public void close() { arena.close(); }
}
