package jsd.export.nbd;

import jsd.crypto.TlsSession;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * A client's byte stream after NBD_OPT_STARTTLS: the same {@link Connection}
 * the handshake and transmission code already speak, over a TLS session.
 * File bytes cannot go out with sendfile (they must be encrypted first), so
 * {@link #transferFrom} reads them into a pooled buffer and writes that.
 */
final class TlsConnection implements Connection {
    /** File bytes are read and encrypted in pieces of this size (a few dozen TLS records each). */
    private static final int FILE_CHUNK = 256 * 1024;

    private final TlsSession session;
    private final String description;

    TlsConnection(TlsSession session, String description) {
        this.session = session;
        this.description = description + " (" + session.protocol() + ")";
    }

    @Override
    public int read(ByteBuffer dst) throws IOException { return session.read(dst); }

    @Override
    public void write(ByteBuffer... srcs) throws IOException {
        // the session writes every byte it is given (it blocks until then)
        session.write(srcs, 0, srcs.length);
    }

    @Override
    public long transferFrom(FileChannel file, long position, long length) throws IOException {
        ByteBuffer buf = BufferPool.SHARED.take((int) Math.min(FILE_CHUNK, length));
        try {
            long done = 0;
            while (done < length) {
                buf.clear().limit((int) Math.min(buf.capacity(), length - done));
                boolean ended = false;
                while (buf.hasRemaining()) {
                    if (file.read(buf, position + done + buf.position()) < 0) {
                        ended = true;
                        break;
                    }
                }
                buf.flip();
                done += buf.remaining();
                if (buf.hasRemaining()) session.write(buf);
                if (ended) break; // the file ended early: the caller pads the rest
            }
            return done;
        } finally {
            BufferPool.SHARED.give(buf);
        }
    }

    @Override
    public void close() throws IOException { session.close(); }

    @Override
    public boolean isOpen() { return session.isOpen(); }

    @Override
    public String describe() { return description; }
}
