package jsd.export.nbd;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * One client, from accept to close, on its own thread: the handshake as
 * straight-line code, then the transmission phase. Whatever ends it (the
 * client, an error, a hard export delete, server stop), the thread cleans
 * up after itself: in-flight requests are awaited, buffers returned, the
 * export and server told.
 */
final class ClientSession {
    /** Platform threads read requests with plain blocking reads (cheapest per request); see Transmission. */
    private static final boolean PLATFORM_THREADS =
            !"virtual".equals(System.getProperty("jsd.nbd.threads", "platform"));

    private final NbdServer server;
    private final SocketChannel channel;
    private final long id;
    private volatile Connection connection;
    private volatile boolean closed;

    ClientSession(NbdServer server, SocketChannel channel, long id) {
        this.server = server;
        this.channel = channel;
        this.id = id;
    }

    long id() { return id; }

    void start() {
        Thread.Builder b = PLATFORM_THREADS ? Thread.ofPlatform().daemon(true) : Thread.ofVirtual();
        b.name("nbd-client-" + id).start(this::run);
    }

    private void run() {
        NbdExport export = null;
        try {
            Connection plain = new SocketConnection(channel);
            connection = plain;
            if (closed) return;
            Handshake.Result r = new Handshake(server, this, plain).run();
            if (r == null) return;
            export = r.export();
            connection = r.connection();
            if (closed) return;
            new Transmission(r).run();
        } catch (IOException e) {
            if (NbdServer.DEBUG && !closed) System.err.println("jsd: nbd: client " + id + ": " + e);
        } catch (RuntimeException e) {
            System.err.println("jsd: nbd: client " + id + " failed: " + e);
        } finally {
            closeQuietly();
            if (export != null) export.detach(this);
            server.clientGone(this);
        }
    }

    /** The handshake switched to TLS: closing the client now ends the TLS session (close_notify first). */
    void upgraded(Connection tls) {
        connection = tls;
        if (closed) closeQuietly();
    }

    /** Drops the connection; the client's thread notices and cleans up. */
    void close() {
        closed = true;
        closeQuietly();
    }

    private void closeQuietly() {
        try {
            Connection c = connection;
            if (c != null) c.close();
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
