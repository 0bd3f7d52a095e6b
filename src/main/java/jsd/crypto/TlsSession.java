package jsd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;

/**
 * A server-side TLS connection after a successful handshake, used in place
 * of the plain socket. Blocking: read returns at least one byte (or -1 at
 * the end of the stream), write sends everything it is given. One thread
 * may read while another writes; writes are serialised internally and so
 * are reads. close() may be called from any thread and wakes both.
 */
public interface TlsSession extends ByteChannel, GatheringByteChannel {
    /** The authenticated peer for tls-authz: the x509 distinguished name or the PSK username; null if none. */
    String peerIdentity();

    /** "TLSv1.3" or "TLSv1.2". */
    String protocol();

    String cipherSuite();

    /** Fills dst completely; false if the stream ended first. */
    default boolean readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            if (read(dst) < 0) return false;
        }
        return true;
    }

    @Override
    default int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    @Override
    default long write(ByteBuffer[] srcs) throws IOException {
        return write(srcs, 0, srcs.length);
    }
}
