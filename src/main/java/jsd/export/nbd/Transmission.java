package jsd.export.nbd;

import jsd.block.BlockNode;
import jsd.sys.Libc;
import jsd.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.Semaphore;

import static jsd.export.nbd.NbdConstants.*;

/**
 * The transmission phase of one connection. The reader loop reads
 * requests in large gulps and decodes every complete one in its buffer.
 * What can finish without waiting is done right here: reads the page
 * cache already holds (preadv2 with RWF_NOWAIT, straight into the reply
 * batch), plain writes (pwrite from the receive buffer), block status;
 * their replies collect in one batch that goes out in a single write
 * before the reader next blocks. Large reads of file bytes go out with
 * sendfile. Everything that may wait (flush, FUA and writethrough writes,
 * zeroing, trim, cache, reads of uncached data) runs on its own virtual
 * thread, at most MAX_IN_FLIGHT at a time per connection, and replies
 * when done, out of order.
 */
final class Transmission {
    static final int MAX_IN_FLIGHT = 64;
    private static final int IN_BUFFER = 256 * 1024;
    /** Reads up to this size are copied into the reply batch; larger ones use sendfile. */
    private static final int INLINE_READ_MAX = 64 * 1024;
    /** Reads from this size on first ask whether the range is a hole (a 12-byte reply instead of the zeroes). */
    private static final int HOLE_CHECK_MIN = 256 * 1024;

    private static volatile boolean noWaitWorks = true;

    private final Handshake.Result session;
    private final Connection conn;
    private final NbdExport export;
    private final BlockNode node;
    private final long size;
    private final boolean structured;
    private final boolean extended;
    private final boolean writethrough;
    private final ReplyWriter out;
    private final SlowRequests slow;
    private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
    private final BlockStatusReply blockStatus = new BlockStatusReply();
    private ByteBuffer in;
    private FileChannel lastChannel;
    private int lastFd;

    Transmission(Handshake.Result session) {
        this.session = session;
        this.conn = session.connection();
        this.export = session.export();
        this.node = export.node();
        this.size = session.size();
        this.structured = session.structured();
        this.extended = session.extended();
        this.writethrough = export.writethrough();
        this.out = new ReplyWriter(conn, structured, extended);
        this.slow = new SlowRequests(node, out, writethrough);
    }

    void run() throws IOException {
        in = BufferPool.SHARED.take(IN_BUFFER).flip(); // empty, in read mode
        try {
            loop();
        } finally {
            slots.acquireUninterruptibly(MAX_IN_FLIGHT); // every request handed off has replied
            try {
                out.flush();
            } catch (IOException ignored) {
                // the client is gone
            }
            out.release();
            BufferPool.SHARED.give(in);
        }
    }

    private void loop() throws IOException {
        final int headerLength = extended ? 32 : 28;
        final int magic = extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC;
        while (true) {
            if (!need(headerLength)) return;
            int p = in.position();
            if (in.getInt(p) != magic) {
                log("invalid request magic 0x%x", in.getInt(p));
                return;
            }
            int flags = Short.toUnsignedInt(in.getShort(p + 4));
            int type = Short.toUnsignedInt(in.getShort(p + 6));
            long cookie = in.getLong(p + 8);
            long offset = in.getLong(p + 16);
            long length = extended ? in.getLong(p + 24) : Integer.toUnsignedLong(in.getInt(p + 24));
            in.position(p + headerLength);
            if (!handle(type, flags, cookie, offset, length)) return;
        }
    }

    /** Makes n bytes available in the receive buffer; false at end of stream. Sends pending replies before blocking. */
    private boolean need(int n) throws IOException {
        if (in.remaining() >= n) return true;
        out.flush();
        in.compact();
        try {
            while (in.position() < n) {
                if (conn.read(in) < 0) return false;
            }
        } finally {
            in.flip();
        }
        return true;
    }

    private static int validFlags(int type, boolean structured, boolean extended) {
        int valid = NBD_CMD_FLAG_FUA;
        switch (type) {
            case NBD_CMD_READ -> { if (structured) valid |= NBD_CMD_FLAG_DF; }
            case NBD_CMD_WRITE -> { if (extended) valid |= NBD_CMD_FLAG_PAYLOAD_LEN; }
            case NBD_CMD_WRITE_ZEROES -> valid |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
            case NBD_CMD_BLOCK_STATUS -> valid |= NBD_CMD_FLAG_REQ_ONE;
            default -> { }
        }
        return valid;
    }

    private boolean inBounds(long offset, long length) {
        return Long.compareUnsigned(offset, size) <= 0 && Long.compareUnsigned(length, size - offset) <= 0;
    }

    /** Handles one request; false ends the connection (DISC, or a request whose payload cannot be skipped). */
    private boolean handle(int type, int flags, long cookie, long offset, long length) throws IOException {
        if (type == NBD_CMD_DISC) return false;
        if (type == NBD_CMD_WRITE) return write(flags, cookie, offset, length);
        if (extended && (flags & NBD_CMD_FLAG_PAYLOAD_LEN) != 0) {
            // a payload we never advertised for this command: skip it if we can, then refuse
            if (Long.compareUnsigned(length, NBD_MAX_BUFFER_SIZE) > 0) {
                error(cookie, offset, NBD_EINVAL, "payload of " + Long.toUnsignedString(length) + " bytes is too large");
                return false;
            }
            if (!skip((int) length)) return false;
            error(cookie, offset, NBD_EINVAL, "unexpected payload for command " + type);
            return true;
        }
        if ((flags & ~validFlags(type, structured, extended)) != 0 && type <= NBD_CMD_BLOCK_STATUS) {
            error(cookie, offset, NBD_EINVAL, String.format("unsupported flags for command %d (got 0x%x)", type, flags));
            return true;
        }
        switch (type) {
            case NBD_CMD_READ -> read(flags, cookie, offset, length);
            case NBD_CMD_FLUSH -> handOff(new Request(type, flags, cookie, offset, length, null));
            case NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES -> {
                if (!export.writable()) error(cookie, offset, NBD_EPERM, "export is read-only");
                else if (!inBounds(offset, length)) {
                    error(cookie, offset, type == NBD_CMD_TRIM ? NBD_EINVAL : NBD_ENOSPC, "operation past the end of the export");
                } else if (length == 0) ok(cookie, offset);
                else handOff(new Request(type, flags, cookie, offset, length, null));
            }
            case NBD_CMD_CACHE -> {
                if (!inBounds(offset, length)) error(cookie, offset, NBD_EINVAL, "operation past the end of the export");
                else if (length == 0) ok(cookie, offset);
                else handOff(new Request(type, flags, cookie, offset, length, null));
            }
            case NBD_CMD_BLOCK_STATUS -> blockStatus(flags, cookie, offset, length);
            default -> error(cookie, offset, NBD_EINVAL, "invalid request type (" + type + ") received");
        }
        return true;
    }

    // ---- READ ----

    private void read(int flags, long cookie, long offset, long length) throws IOException {
        if (Long.compareUnsigned(length, NBD_MAX_BUFFER_SIZE) > 0) {
            error(cookie, offset, NBD_EINVAL, "len (" + Long.toUnsignedString(length) + ") is larger than max len (" + NBD_MAX_BUFFER_SIZE + ")");
            return;
        }
        if (!inBounds(offset, length)) {
            error(cookie, offset, NBD_EINVAL, "operation past the end of the export");
            return;
        }
        int len = (int) length;
        if (len == 0) {
            ByteBuffer b = out.batch(64);
            if (structured) out.putChunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, offset, 0);
            else out.putSimple(b, 0, cookie);
            return;
        }
        try {
            if (len <= INLINE_READ_MAX) {
                if (readInline(cookie, offset, len)) return;
            } else {
                if (structured && len >= HOLE_CHECK_MIN && readHole(cookie, offset, len)) return;
                BlockNode.FileRegion r = node.fileRegion(offset, len);
                if (r != null) {
                    out.sendFile(cookie, offset, len, r.channel(), r.position());
                    return;
                }
            }
        } catch (SysException e) {
            error(cookie, offset, nbdErrno(e.errno()), e.getMessage());
            return;
        }
        handOff(new Request(NBD_CMD_READ, flags, cookie, offset, length, null));
    }

    /** Reads straight into the reply batch if the data need no waiting; false when it must be handed off. */
    private boolean readInline(long cookie, long offset, int len) throws IOException {
        BlockNode.FileRegion r = node.fileRegion(offset, len);
        if (r == null) return false;
        int prefix = out.readPrefixLength();
        ByteBuffer b = out.batch(prefix + len);
        int start = b.position();
        b.position(start + prefix).limit(start + prefix + len);
        int n;
        try {
            if (noWaitWorks) {
                n = Libc.preadNoWait(fd(r.channel()), b, r.position());
                if (n == Libc.NOWAIT_UNSUPPORTED) noWaitWorks = false;
            } else {
                node.read(offset, b); // the file system cannot tell: read in place, blocking
                n = len;
            }
        } finally {
            b.limit(b.capacity());
        }
        if (n != len) {
            b.position(start);
            return false;
        }
        b.position(start);
        out.putReadHeader(b, cookie, offset, len);
        b.position(start + prefix + len);
        return true;
    }

    private boolean readHole(long cookie, long offset, int len) throws IOException {
        jsd.block.BlockStatus s = node.blockStatus(offset, len);
        if (!s.isZero() || s.length() < len) return false;
        out.putHole(out.batch(64), cookie, offset, len);
        return true;
    }

    private int fd(FileChannel ch) {
        if (ch != lastChannel) {
            lastFd = Libc.fd(ch);
            lastChannel = ch;
        }
        return lastFd;
    }

    // ---- WRITE ----

    private boolean write(int flags, long cookie, long offset, long length) throws IOException {
        if (Long.compareUnsigned(length, NBD_MAX_BUFFER_SIZE) > 0) {
            // the payload cannot be skipped sensibly: refuse and end, as QEMU does
            error(cookie, offset, NBD_EINVAL, "len (" + Long.toUnsignedString(length) + ") is larger than max len (" + NBD_MAX_BUFFER_SIZE + ")");
            return false;
        }
        int len = (int) length;
        ByteBuffer owned = null;
        ByteBuffer data;
        if (len <= IN_BUFFER) {
            if (!need(len)) return false;
            data = in.slice(in.position(), len);
            in.position(in.position() + len);
        } else {
            owned = BufferPool.SHARED.take(len);
            int avail = Math.min(in.remaining(), len);
            owned.put(owned.position(), in, in.position(), avail);
            owned.position(avail);
            in.position(in.position() + avail);
            try {
                conn.readFully(owned);
            } catch (java.io.EOFException e) {
                BufferPool.SHARED.give(owned);
                return false;
            } catch (IOException e) {
                BufferPool.SHARED.give(owned);
                throw e;
            }
            owned.flip();
            data = owned;
        }
        String problem = null;
        int err = 0;
        if ((flags & ~validFlags(NBD_CMD_WRITE, structured, extended)) != 0) {
            err = NBD_EINVAL;
            problem = String.format("unsupported flags for command %d (got 0x%x)", NBD_CMD_WRITE, flags);
        } else if (!export.writable()) {
            err = NBD_EPERM;
            problem = "export is read-only";
        } else if (!inBounds(offset, length)) {
            err = NBD_ENOSPC;
            problem = "operation past the end of the export";
        }
        if (problem != null || len == 0) {
            BufferPool.SHARED.give(owned);
            if (problem != null) error(cookie, offset, err, problem);
            else ok(cookie, offset);
            return true;
        }
        if ((flags & NBD_CMD_FLAG_FUA) != 0 || writethrough) {
            if (owned == null) {
                owned = BufferPool.SHARED.take(len);
                owned.put(data).flip();
            }
            handOff(new Request(NBD_CMD_WRITE, flags, cookie, offset, length, owned));
            return true;
        }
        try {
            node.write(offset, data, 0);
            ok(cookie, offset);
        } catch (IOException e) {
            error(cookie, offset, SlowRequests.errnoOf(e), SlowRequests.messageOf(e));
        } finally {
            BufferPool.SHARED.give(owned);
        }
        return true;
    }

    // ---- BLOCK_STATUS ----

    private void blockStatus(int flags, long cookie, long offset, long length) throws IOException {
        MetaContexts.Selection sel = session.contexts();
        if (!sel.any()) {
            error(cookie, offset, NBD_EINVAL, "no metadata context was negotiated");
            return;
        }
        if (length == 0 || !inBounds(offset, length)) {
            error(cookie, offset, NBD_EINVAL, length == 0 ? "need non-zero length" : "operation past the end of the export");
            return;
        }
        try {
            blockStatus.write(out, node, export.bitmaps(), sel, cookie, offset, length, (flags & NBD_CMD_FLAG_REQ_ONE) != 0);
        } catch (IOException e) {
            error(cookie, offset, SlowRequests.errnoOf(e), SlowRequests.messageOf(e));
        }
    }

    // ---- helpers ----

    private boolean skip(int n) throws IOException {
        while (n > 0) {
            if (!need(Math.min(n, IN_BUFFER))) return false;
            int k = Math.min(n, in.remaining());
            in.position(in.position() + k);
            n -= k;
        }
        return true;
    }

    private void ok(long cookie, long offset) throws IOException {
        out.putOk(out.batch(32), cookie, offset);
    }

    private void error(long cookie, long offset, int nbdError, String message) throws IOException {
        out.putError(out.batch(ReplyWriter.errorLength(message)), cookie, offset, nbdError, message, -1);
    }

    /** Runs a request on its own virtual thread; blocks (after sending pending replies) when too many are running. */
    private void handOff(Request r) throws IOException {
        if (!slots.tryAcquire()) {
            out.flush();
            slots.acquireUninterruptibly();
        }
        try {
            Thread.ofVirtual().start(() -> {
                try {
                    slow.execute(r);
                } finally {
                    BufferPool.SHARED.give(r.payload());
                    slots.release();
                }
            });
        } catch (RuntimeException | Error e) {
            BufferPool.SHARED.give(r.payload());
            slots.release();
            throw e;
        }
    }

    private void log(String format, Object... args) {
        if (NbdServer.DEBUG) System.err.println("jsd: nbd: " + conn.describe() + ": " + String.format(format, args));
    }
}
