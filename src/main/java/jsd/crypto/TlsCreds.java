package jsd.crypto;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/** TLS credentials objects (tls-creds-x509, tls-creds-psk) as a server uses them. */
public sealed interface TlsCreds permits TlsCredsX509, TlsCredsPsk {
    /** QEMU's default handshake limit for the NBD server (handshake-max-seconds, qemu 9.1). */
    Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    /** Whether the object was made with endpoint=server (what a server needs). */
    boolean isServer();

    /**
     * Runs the server side of a TLS handshake on a connected blocking channel
     * (after the protocol's own STARTTLS exchange). The channel is closed on
     * failure, including when the handshake takes longer than timeout.
     */
    TlsSession serverHandshake(SocketChannel channel, Duration timeout) throws IOException;

    /** Finds the credentials object with this id, of either type, or null. */
    static TlsCreds lookup(jsd.daemon.UserObjects objects, String id) {
        var e = objects.find(id);
        return e != null && e.instance() instanceof TlsCreds c ? c : null;
    }
}
