package jsd.export.nbd;

import jsd.crypto.Crypto;
import jsd.crypto.TlsCreds;
import jsd.daemon.UserObjects;

import java.io.IOException;
import java.time.Duration;

/**
 * The server's TLS step after it acknowledged NBD_OPT_STARTTLS: the TLS
 * handshake on the client's socket (bounded in time, so a client that
 * stalls half-way holds only its own thread, and only that long), then the
 * tls-authz check, whose object is looked up now, per connection, so it can
 * be replaced while the server runs.
 */
final class StartTls implements NbdServer.TlsUpgrade {
    /** jsd.tls.handshake-timeout-ms shortens the limit (tests of stalled clients). */
    private static final Duration TIMEOUT = Duration.ofMillis(
            Long.getLong("jsd.tls.handshake-timeout-ms", TlsCreds.DEFAULT_HANDSHAKE_TIMEOUT.toMillis()));

    private final UserObjects objects;
    private final TlsCreds creds;
    private final String authzId;

    StartTls(UserObjects objects, TlsCreds creds, String authzId) {
        this.objects = objects;
        this.creds = creds;
        this.authzId = authzId;
    }

    @Override
    public Connection upgrade(Connection plain) throws IOException {
        SocketConnection socket = (SocketConnection) plain; // STARTTLS is only accepted once, on the plain socket
        return new TlsConnection(Crypto.startTls(objects, creds, authzId, socket.channel(), TIMEOUT), socket.describe());
    }
}
