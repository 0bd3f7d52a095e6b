package jsd.export.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * The byte stream of one NBD client. The handshake and transmission code
 * speak only to this, so a TLS session (NBD_OPT_STARTTLS) can replace the
 * plain socket underneath without either of them changing.
 */
interface Connection extends Closeable {
    /** Reads what is available (blocking until at least one byte); -1 at end of stream. */
    int read(ByteBuffer dst) throws IOException;

    /** Fills dst completely or throws {@link java.io.EOFException}. */
    default void readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            if (read(dst) < 0) throw new java.io.EOFException("client closed the connection");
        }
    }

    /** Writes every byte of the buffers, in order, as few system calls as it can. */
    void write(ByteBuffer... srcs) throws IOException;

    /**
     * Sends length bytes of the file starting at position, verbatim
     * (sendfile where the transport allows). Returns how many bytes the
     * file had; the caller pads the rest if the file ended early.
     */
    long transferFrom(FileChannel file, long position, long length) throws IOException;

    /** Stops both directions at once; a reader blocked in {@link #read} wakes up. */
    @Override
    void close() throws IOException;

    boolean isOpen();

    /** For log messages. */
    String describe();
}
