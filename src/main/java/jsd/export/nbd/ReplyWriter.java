package jsd.export.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;

import static jsd.export.nbd.NbdConstants.*;

/**
 * Replies of one connection, in the reply style negotiated (simple,
 * structured, extended). Two ways in:
 * <ul>
 * <li>the reader thread appends replies it completed itself to a batch
 *     buffer (headers and read data side by side) and sends the whole
 *     batch with one write before it blocks on the socket again;</li>
 * <li>requests completed on other threads send theirs at once, a header
 *     and the payload in one gathering write.</li>
 * </ul>
 * One lock keeps replies whole on the wire.
 */
final class ReplyWriter {
    static final int BATCH_SIZE = 512 * 1024;

    private final Connection conn;
    private final boolean structured;
    private final boolean extended;
    private final ReentrantLock lock = new ReentrantLock();
    private final ByteBuffer batch;
    private volatile boolean broken;

    ReplyWriter(Connection conn, boolean structured, boolean extended) {
        this.conn = conn;
        this.structured = structured;
        this.extended = extended;
        this.batch = BufferPool.SHARED.take(BATCH_SIZE).limit(BATCH_SIZE);
    }

    boolean structured() { return structured; }

    boolean extended() { return extended; }

    /** Bytes of a structured/extended chunk header. */
    int chunkHeaderLength() { return extended ? 32 : 20; }

    /** Bytes in front of read data: the reply header, plus the offset field of an OFFSET_DATA chunk. */
    int readPrefixLength() { return structured ? chunkHeaderLength() + 8 : 16; }

    void release() { BufferPool.SHARED.give(batch); }

    // ---- encoders (into any buffer) ----

    void putSimple(ByteBuffer b, int error, long cookie) {
        b.putInt(NBD_SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    }

    void putChunk(ByteBuffer b, int flags, int type, long cookie, long offset, long length) {
        if (extended) {
            b.putInt(NBD_EXTENDED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                    .putLong(offset).putLong(length);
        } else {
            b.putInt(NBD_STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                    .putInt((int) length);
        }
    }

    /** Success without data: a simple reply, or with extended headers a NONE chunk. */
    void putOk(ByteBuffer b, long cookie, long offset) {
        if (extended) putChunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, offset, 0);
        else putSimple(b, 0, cookie);
    }

    static int errorLength(String message) { return 32 + 6 + 8 + Math.min(message.length() * 3, 4096); }

    /** An error: a simple reply, or an ERROR (ERROR_OFFSET with errorOffset >= 0) chunk carrying the message. */
    void putError(ByteBuffer b, long cookie, long offset, int nbdError, String message, long errorOffset) {
        if (!structured) {
            putSimple(b, nbdError, cookie);
            return;
        }
        byte[] msg = message.getBytes(StandardCharsets.UTF_8);
        int len = Math.min(msg.length, 4096);
        int type = errorOffset >= 0 ? NBD_REPLY_TYPE_ERROR_OFFSET : NBD_REPLY_TYPE_ERROR;
        putChunk(b, NBD_REPLY_FLAG_DONE, type, cookie, offset, 6 + len + (errorOffset >= 0 ? 8 : 0));
        b.putInt(nbdError).putShort((short) len).put(msg, 0, len);
        if (errorOffset >= 0) b.putLong(errorOffset);
    }

    /** The header in front of read data of n bytes at offset (one chunk, the last one). */
    void putReadHeader(ByteBuffer b, long cookie, long offset, int n) {
        if (structured) {
            putChunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie, offset, 8L + n);
            b.putLong(offset);
        } else {
            putSimple(b, 0, cookie);
        }
    }

    void putHole(ByteBuffer b, long cookie, long offset, int n) {
        putChunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, offset, 12);
        b.putLong(offset).putInt(n);
    }

    // ---- the reader's batch ----

    /** The batch, with at least n bytes free (sending what it holds first if needed). */
    ByteBuffer batch(int n) throws IOException {
        if (batch.remaining() < n) flush();
        return batch;
    }

    boolean fits(int n) { return n <= BATCH_SIZE; }

    /** Sends the batch. */
    void flush() throws IOException {
        if (batch.position() == 0) return;
        batch.flip();
        lock.lock();
        try {
            checkBroken();
            conn.write(batch);
        } catch (IOException e) {
            fail();
            throw e;
        } finally {
            lock.unlock();
            batch.clear();
        }
    }

    // ---- immediate replies (any thread) ----

    /** Sends header (flipped) and payload buffers (may be null) as one reply, now. */
    void send(ByteBuffer header, ByteBuffer payload) throws IOException {
        lock.lock();
        try {
            checkBroken();
            if (payload == null) conn.write(header);
            else conn.write(header, payload);
        } catch (IOException e) {
            fail();
            throw e;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Sends a read reply whose data are file bytes, with sendfile. The
     * batch goes first so that the connection's write order stays simple.
     * Called by the reader thread only.
     */
    void sendFile(long cookie, long offset, int n, java.nio.channels.FileChannel file, long position) throws IOException {
        lock.lock();
        try {
            checkBroken();
            ByteBuffer b = batch(readPrefixLength());
            putReadHeader(b, cookie, offset, n);
            batch.flip();
            conn.write(batch);
            batch.clear();
            long sent = conn.transferFrom(file, position, n);
            if (sent < n) padZeroes(n - sent); // the file ended early: the rest reads as zeroes
        } catch (IOException e) {
            fail();
            throw e;
        } finally {
            batch.clear();
            lock.unlock();
        }
    }

    private void padZeroes(long n) throws IOException {
        ByteBuffer z = ByteBuffer.allocate((int) Math.min(n, 65536));
        while (n > 0) {
            z.clear().limit((int) Math.min(z.capacity(), n));
            n -= z.remaining();
            conn.write(z);
        }
    }

    private void checkBroken() throws IOException {
        if (broken) throw new java.nio.channels.ClosedChannelException();
    }

    /** A failed write leaves a half-sent reply: the connection cannot go on. */
    private void fail() {
        broken = true;
        try {
            conn.close();
        } catch (IOException ignored) {
            // already failing
        }
    }
}
