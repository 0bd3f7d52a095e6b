package jsd.export.fuse;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jsd.export.fuse.FuseConstants.IN_HEADER_SIZE;
import static jsd.export.fuse.FuseConstants.OUT_HEADER_SIZE;

/**
 * One message read from /dev/fuse: the fuse_in_header decoded, the body
 * reachable only through bounds-checked getters. The same buffer carries
 * the reply once the request's fields have been read: the reply body is
 * written at {@link #replyBody()} and goes out with {@link FuseSession#reply}.
 */
final class FuseRequest {
    /** A request whose body is shorter than its opcode's structure, or otherwise malformed. */
    static final class Malformed extends Exception {
        Malformed(String message) { super(message, null, false, false); }
    }

    final ByteBuffer buffer;
    final int length;
    final int opcode;
    final long unique;
    final long nodeId;
    final int uid;
    final int gid;
    final int pid;

    private FuseRequest(ByteBuffer buffer, int length) {
        this.buffer = buffer;
        this.length = length;
        this.opcode = buffer.getInt(4);
        this.unique = buffer.getLong(8);
        this.nodeId = buffer.getLong(16);
        this.uid = buffer.getInt(24);
        this.gid = buffer.getInt(28);
        this.pid = buffer.getInt(32);
    }

    /**
     * Decodes the header of a message of read bytes at the start of buffer.
     * Returns null when not even a header arrived or the header's length
     * disagrees with what was read (there is no unique id to answer then).
     */
    static FuseRequest parse(ByteBuffer buffer, int read) {
        buffer.order(ByteOrder.nativeOrder());
        if (read < IN_HEADER_SIZE) return null;
        int len = buffer.getInt(0);
        if (len != read) return null;
        return new FuseRequest(buffer, len);
    }

    /** Bytes after the header. */
    int bodyLength() { return length - IN_HEADER_SIZE; }

    /** Checks that the body holds at least size bytes (the opcode's input structure). */
    void requireBody(int size) throws Malformed {
        if (bodyLength() < size) {
            throw new Malformed("opcode " + opcode + ": body of " + bodyLength() + " bytes, need " + size);
        }
    }

    int u32(int bodyOffset) throws Malformed {
        check(bodyOffset, 4);
        return buffer.getInt(IN_HEADER_SIZE + bodyOffset);
    }

    long u64(int bodyOffset) throws Malformed {
        check(bodyOffset, 8);
        return buffer.getLong(IN_HEADER_SIZE + bodyOffset);
    }

    /** A view of count body bytes from bodyOffset (a write's payload). */
    ByteBuffer slice(int bodyOffset, int count) throws Malformed {
        check(bodyOffset, count);
        return buffer.slice(IN_HEADER_SIZE + bodyOffset, count);
    }

    private void check(int bodyOffset, int size) throws Malformed {
        if (bodyOffset < 0 || size < 0 || (long) bodyOffset + size > bodyLength()) {
            throw new Malformed("opcode " + opcode + ": field at " + bodyOffset + "+" + size
                    + " beyond a body of " + bodyLength() + " bytes");
        }
    }

    /** Where a reply's body goes (overwriting the request: read its fields first). */
    ByteBuffer replyBody() {
        return buffer.duplicate().order(ByteOrder.nativeOrder()).clear().position(OUT_HEADER_SIZE);
    }

    /** Room for a reply body in this request's buffer. */
    int replyCapacity() { return buffer.capacity() - OUT_HEADER_SIZE; }
}
