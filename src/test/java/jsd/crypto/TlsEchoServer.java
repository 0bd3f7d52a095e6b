package jsd.crypto;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A tiny server for TLS tests: wraps each accepted socket with a
 * {@link TlsCreds#serverHandshake}, greets with "hello id=... proto=..."
 * and then echoes every byte back, reading and writing from different
 * threads (as the NBD server will). Each connection's outcome (the session
 * or the handshake error) is queued for the test to inspect.
 */
final class TlsEchoServer implements AutoCloseable {
    private final ServerSocketChannel listener;
    private final Thread acceptor;
    final BlockingQueue<Object> outcomes = new LinkedBlockingQueue<>();

    /** How an accepted socket becomes a TLS session (a handshake, maybe an authz check). */
    interface Starter {
        TlsSession start(SocketChannel ch) throws IOException;
    }

    TlsEchoServer(TlsCreds creds, Duration handshakeTimeout) throws IOException {
        this(ch -> creds.serverHandshake(ch, handshakeTimeout));
    }

    TlsEchoServer(Starter starter) throws IOException {
        listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        acceptor = Thread.ofPlatform().daemon().start(() -> {
            while (listener.isOpen()) {
                try {
                    SocketChannel ch = listener.accept();
                    Thread.ofVirtual().start(() -> serve(starter, ch));
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    int port() throws IOException { return ((InetSocketAddress) listener.getLocalAddress()).getPort(); }

    /** The next connection's outcome: a TlsSession or the exception its handshake ended with. */
    Object next() throws InterruptedException {
        Object o = outcomes.poll(30, TimeUnit.SECONDS);
        if (o == null) throw new AssertionError("no connection outcome within 30 s");
        return o;
    }

    private void serve(Starter starter, SocketChannel ch) {
        TlsSession s;
        try {
            s = starter.start(ch);
        } catch (IOException | RuntimeException e) {
            outcomes.add(e);
            return;
        }
        outcomes.add(s);
        try (s) {
            s.write(ByteBuffer.wrap(("hello id=" + s.peerIdentity() + " proto=" + s.protocol() + "\n")
                    .getBytes(StandardCharsets.UTF_8)));
            // Echo through a queue so that reads and writes run on different threads.
            BlockingQueue<ByteBuffer> q = new LinkedBlockingQueue<>();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    for (ByteBuffer b; (b = q.take()).hasRemaining(); ) s.write(new ByteBuffer[] {b});
                } catch (IOException | InterruptedException ignored) {
                    // connection over
                }
            });
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            while (s.read(buf) >= 0) {
                buf.flip();
                ByteBuffer copy = ByteBuffer.allocate(buf.remaining()).put(buf).flip();
                q.add(copy);
                buf.clear();
            }
            q.add(ByteBuffer.allocate(0));
            writer.join();
        } catch (IOException | InterruptedException ignored) {
            // peer went away
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        acceptor.interrupt();
    }
}
