package jsd.crypto;

import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.PSKTlsServer;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Vector;
import java.util.concurrent.locks.ReentrantLock;

/**
 * TLS-PSK over a blocking SocketChannel with Bouncy Castle's TLS engine in
 * its non-blocking mode: we move ciphertext between the socket and the
 * engine ourselves, so reading and writing can go on in different threads
 * (the engine is only used under {@code engineLock}, for short calls).
 * Output produced while reading (alerts, TLS 1.3 key updates) is sent under
 * the write lock, so records always leave in the order they were made.
 */
final class PskTlsSession implements TlsSession {
    private static final TlsCrypto CRYPTO = new JcaTlsCryptoProvider().create(new SecureRandom());
    private static final int CHUNK = 64 * 1024;

    private final SocketChannel channel;
    private final TlsServerProtocol protocol = new TlsServerProtocol();
    private final Server server;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    private final ReentrantLock engineLock = new ReentrantLock();
    private final ByteBuffer netIn = ByteBuffer.allocateDirect(CHUNK);
    private final byte[] netInBytes = new byte[CHUNK];
    private final ByteBuffer netOut = ByteBuffer.allocateDirect(CHUNK + 1024);
    private byte[] plain = new byte[CHUNK];
    /** Plaintext staging for writes (Bouncy Castle takes byte arrays), reused so a reply allocates nothing. */
    private final byte[] writeChunk = new byte[CHUNK];
    private volatile boolean closed;

    private PskTlsSession(SocketChannel channel, TlsCredsPsk creds) {
        this.channel = channel;
        this.server = new Server(CRYPTO, creds);
    }

    static PskTlsSession handshake(SocketChannel channel, TlsCredsPsk creds, Duration timeout) throws IOException {
        PskTlsSession t = new PskTlsSession(channel, creds);
        try (HandshakeTimer timer = new HandshakeTimer(channel, timeout)) {
            try {
                t.runHandshake();
            } catch (IOException | RuntimeException e) {
                t.abort();
                if (timer.fired()) {
                    throw new TlsHandshakeException("TLS handshake timed out after " + timeout.toSeconds() + " s", e);
                }
                throw new TlsHandshakeException("TLS handshake failed: " + JsseTlsSession.describe(e), e);
            }
        }
        return t;
    }

    private void runHandshake() throws IOException {
        engineLock.lock();
        try {
            protocol.accept(server);
        } finally {
            engineLock.unlock();
        }
        while (true) {
            flushEngineOutput();
            if (server.done) return;
            netIn.clear();
            if (channel.read(netIn) < 0) throw new EOFException("peer closed the connection");
            offer();
        }
    }

    /** Hands what is in netIn to the engine; a fatal alert it raises is sent before the error propagates. */
    private void offer() throws IOException {
        netIn.flip();
        int n = netIn.remaining();
        netIn.get(netInBytes, 0, n);
        try {
            engineLock.lock();
            try {
                protocol.offerInput(netInBytes, 0, n);
            } finally {
                engineLock.unlock();
            }
        } catch (IOException e) {
            try {
                flushEngineOutput();
            } catch (IOException ignored) {
                // the alert is a courtesy
            }
            throw e;
        }
    }

    /** Sends whatever records the engine has ready, in order (callers may or may not hold writeLock). */
    private void flushEngineOutput() throws IOException {
        writeLock.lock();
        try {
            while (true) {
                engineLock.lock();
                int n;
                try {
                    netOut.clear();
                    n = protocol.readOutput(netOut, netOut.remaining());
                } finally {
                    engineLock.unlock();
                }
                if (n <= 0) return;
                netOut.flip();
                while (netOut.hasRemaining()) channel.write(netOut);
            }
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) return 0;
        readLock.lock();
        try {
            while (true) {
                engineLock.lock();
                int got;
                try {
                    int avail = protocol.getAvailableInputBytes();
                    if (avail > 0) {
                        int n = Math.min(avail, dst.remaining());
                        if (plain.length < n) plain = new byte[n];
                        got = protocol.readInput(plain, 0, n);
                    } else if (protocol.isClosed()) {
                        return -1;
                    } else {
                        got = 0;
                    }
                } finally {
                    engineLock.unlock();
                }
                if (got > 0) {
                    dst.put(plain, 0, got);
                    return got;
                }
                netIn.clear();
                if (channel.read(netIn) < 0) return -1;
                offer();
                if (hasEngineOutput()) flushEngineOutput();
            }
        } finally {
            readLock.unlock();
        }
    }

    private boolean hasEngineOutput() {
        engineLock.lock();
        try {
            return protocol.getAvailableOutputBytes() > 0;
        } finally {
            engineLock.unlock();
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long total = 0;
        byte[] chunk = writeChunk; // used under writeLock only
        writeLock.lock();
        try {
            for (int i = offset; i < offset + length; i++) {
                ByteBuffer src = srcs[i];
                while (src.hasRemaining()) {
                    if (closed) throw new ClosedChannelException();
                    int n = Math.min(chunk.length, src.remaining());
                    src.get(chunk, 0, n);
                    engineLock.lock();
                    try {
                        protocol.writeApplicationData(chunk, 0, n);
                    } finally {
                        engineLock.unlock();
                    }
                    flushEngineOutput(); // reentrant: we hold writeLock already
                    total += n;
                }
            }
            return total;
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public String peerIdentity() { return server.username; }

    @Override
    public String protocol() {
        ProtocolVersion v = server.negotiatedVersion();
        return v == null ? null : v.getName().replace("TLS ", "TLSv");
    }

    @Override
    public String cipherSuite() { return server.suiteName(); }

    @Override
    public boolean isOpen() { return !closed && channel.isOpen(); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (writeLock.tryLock()) {
            try {
                engineLock.lock();
                try {
                    protocol.close(); // queues close_notify
                } finally {
                    engineLock.unlock();
                }
                Thread t = Thread.ofVirtual().start(() -> {
                    try {
                        flushEngineOutput();
                    } catch (IOException ignored) {
                        // the peer may be gone already
                    }
                });
                writeLock.unlock();
                try {
                    t.join(Duration.ofMillis(100));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                writeLock.lock();
            } catch (IOException | RuntimeException ignored) {
                // closing regardless
            } finally {
                writeLock.unlock();
            }
        }
        abort();
    }

    private void abort() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }

    /** The server side of a PSK handshake: keys come from keys.psk at the time of the handshake. */
    private static final class Server extends PSKTlsServer {
        private final TlsCredsPsk creds;
        volatile boolean done;
        volatile String username;

        Server(TlsCrypto crypto, TlsCredsPsk creds) {
            super(crypto, new Keys(creds));
            this.creds = creds;
            ((Keys) pskIdentityManager).server = this;
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
        }

        /** Our order wins: forward secrecy first. */
        @Override
        protected boolean preferLocalCipherSuites() { return true; }

        @Override
        protected int[] getSupportedCipherSuites() {
            // TLS 1.3: only suites whose hash is SHA-256, the hash of an external
            // PSK that names none (GnuTLS's default). TLS 1.2: ECDHE-PSK, then
            // plain PSK; no DHE-PSK (slow, and gnutls-cli 3.7.9 crashes on
            // Bouncy Castle's DHE-PSK key exchange).
            return org.bouncycastle.tls.TlsUtils.getSupportedCipherSuites(getCrypto(), new int[] {
                    CipherSuite.TLS_AES_128_GCM_SHA256,
                    CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
                    CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
                    CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
                    CipherSuite.TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA,
                    CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA,
                    CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384,
                    CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
                    CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
            });
        }

        /** TLS 1.3: the client offers identities; the first one with a key in keys.psk is used. */
        @Override
        public TlsPSKExternal getExternalPSK(Vector identities) {
            for (Object o : identities) {
                byte[] id = ((PskIdentity) o).getIdentity();
                String name = new String(id, StandardCharsets.UTF_8);
                byte[] key = creds.keyFor(name);
                if (key != null) {
                    username = name;
                    return new BasicTlsPSKExternal(id, getCrypto().createSecret(key));
                }
            }
            return null;
        }

        @Override
        public void notifyHandshakeComplete() throws IOException {
            super.notifyHandshakeComplete();
            done = true;
        }

        ProtocolVersion negotiatedVersion() {
            return context == null ? null : context.getServerVersion();
        }

        String suiteName() {
            if (context == null || context.getSecurityParameters() == null) return null;
            return "0x" + Integer.toHexString(context.getSecurityParameters().getCipherSuite());
        }
    }

    /** TLS 1.2: the identity manager is asked for the key of the identity the client sent. */
    private static final class Keys implements TlsPSKIdentityManager {
        private final TlsCredsPsk creds;
        Server server;

        Keys(TlsCredsPsk creds) { this.creds = creds; }

        @Override
        public byte[] getHint() { return null; }

        @Override
        public byte[] getPSK(byte[] identity) {
            String name = new String(identity, StandardCharsets.UTF_8);
            byte[] key = creds.keyFor(name);
            if (key != null) server.username = name;
            return key;
        }
    }
}
