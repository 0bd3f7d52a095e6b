package jsd.crypto;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * TLS over a blocking SocketChannel with the JDK's SSLEngine (x509).
 * Reads and writes have their own locks so a connection's reader thread and
 * its reply writers do not wait for each other; the engine itself is only
 * touched for short wrap/unwrap calls. Records are batched: one socket
 * write carries several 16 KiB records, and a large enough read buffer is
 * decrypted into directly.
 */
final class JsseTlsSession implements TlsSession {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
    /** How many full records one socket write may carry. */
    private static final int RECORDS_PER_WRITE = 4;
    /** How many full records one socket read may bring in (fewer system calls for bulk data). */
    private static final int RECORDS_PER_READ = 4;

    private final SocketChannel channel;
    private final SSLEngine engine;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    private ByteBuffer netIn;   // ciphertext from the socket, in write mode
    private ByteBuffer appIn;   // decrypted bytes not yet handed out, in write mode
    private ByteBuffer netOut;
    private boolean inboundDone;
    private volatile boolean closed;
    private String identity;
    // Record sizes, fixed once the handshake is done (asking the session each time takes the engine's lock).
    private int appSize;
    private int packetSize;

    private JsseTlsSession(SocketChannel channel, SSLEngine engine) {
        this.channel = channel;
        this.engine = engine;
        SSLSession s = engine.getSession();
        // Heap, not direct: the JDK's AES-GCM runs its intrinsic on byte arrays only and for
        // direct buffers copies every record through freshly allocated temporary arrays (most
        // of the garbage, and so of the heap growth, of a TLS connection). The socket copies a
        // heap buffer through its thread's cached direct buffer, which costs far less.
        netIn = ByteBuffer.allocate(s.getPacketBufferSize());
        appIn = ByteBuffer.allocate(s.getApplicationBufferSize());
        netOut = ByteBuffer.allocate(s.getPacketBufferSize() * RECORDS_PER_WRITE);
    }

    static JsseTlsSession handshake(SocketChannel channel, SSLEngine engine, Duration timeout) throws IOException {
        JsseTlsSession t = new JsseTlsSession(channel, engine);
        try (HandshakeTimer timer = new HandshakeTimer(channel, timeout)) {
            try {
                t.runHandshake();
            } catch (IOException | RuntimeException e) {
                t.closeQuietly();
                if (timer.fired()) {
                    throw new TlsHandshakeException("TLS handshake timed out after " + timeout.toSeconds() + " s", e);
                }
                throw new TlsHandshakeException("TLS handshake failed: " + describe(e), e);
            }
        }
        SSLSession session = engine.getSession();
        t.identity = peerName(session);
        t.appSize = session.getApplicationBufferSize();
        t.packetSize = session.getPacketBufferSize();
        if (t.netOut.capacity() < t.packetSize * RECORDS_PER_WRITE) {
            t.netOut = ByteBuffer.allocate(t.packetSize * RECORDS_PER_WRITE);
        }
        if (t.netIn.capacity() < t.packetSize * RECORDS_PER_READ) {
            t.netIn = grow(t.netIn, t.packetSize * RECORDS_PER_READ); // keeps ciphertext already read
        }
        return t;
    }

    private void runHandshake() throws IOException {
        engine.beginHandshake();
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> {
                    netOut.clear();
                    SSLEngineResult r;
                    try {
                        r = engine.wrap(EMPTY, netOut);
                    } finally {
                        netOut.flip();
                        writeAll(netOut); // an alert, if wrap failed
                    }
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new SSLException("closed during handshake");
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    SSLEngineResult r = unwrapHandshake();
                    if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) fill();
                    else if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new SSLException("peer closed during handshake");
                }
                case NEED_TASK -> runTasks();
                case FINISHED, NOT_HANDSHAKING -> {
                    return;
                }
            }
        }
    }

    private SSLEngineResult unwrapHandshake() throws IOException {
        netIn.flip();
        try {
            SSLEngineResult r = engine.unwrap(netIn, appIn);
            if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) appIn = grow(appIn, engine.getSession().getApplicationBufferSize());
            return r;
        } catch (SSLException e) {
            // the engine has an alert for the peer: send it before giving up
            sendPendingAlert();
            throw e;
        } finally {
            netIn.compact();
        }
    }

    private void sendPendingAlert() {
        try {
            while (engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
                netOut.clear();
                SSLEngineResult r = engine.wrap(EMPTY, netOut);
                netOut.flip();
                writeAll(netOut);
                if (r.getStatus() == SSLEngineResult.Status.CLOSED || r.bytesProduced() == 0) break;
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }

    /** Reads more ciphertext; end of stream in a handshake is an error. */
    private void fill() throws IOException {
        if (!netIn.hasRemaining()) netIn = grow(netIn, netIn.capacity() * 2);
        if (channel.read(netIn) < 0) throw new EOFException("peer closed the connection");
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) return 0;
        readLock.lock();
        try {
            while (true) {
                if (appIn.position() > 0) return drainAppIn(dst);
                if (inboundDone) return -1;
                if (netIn.position() > 0) {
                    // Decrypt straight into the caller's buffer when a whole record fits.
                    boolean direct = dst.remaining() >= appSize;
                    ByteBuffer target = direct ? dst : appIn;
                    netIn.flip();
                    SSLEngineResult r;
                    try {
                        r = engine.unwrap(netIn, target);
                    } finally {
                        netIn.compact();
                    }
                    afterUnwrap(r);
                    switch (r.getStatus()) {
                        case OK -> {
                            if (direct && r.bytesProduced() > 0) return r.bytesProduced();
                            continue;
                        }
                        case CLOSED -> {
                            inboundDone = true;
                            if (direct && r.bytesProduced() > 0) return r.bytesProduced();
                            continue;
                        }
                        case BUFFER_OVERFLOW -> {
                            appIn = grow(appIn, appSize);
                            continue;
                        }
                        case BUFFER_UNDERFLOW -> {
                            // fall through to read more ciphertext
                        }
                    }
                }
                if (!netIn.hasRemaining()) netIn = grow(netIn, netIn.capacity() * 2);
                if (channel.read(netIn) < 0) {
                    inboundDone = true; // no close_notify: treat like one, the protocol layer decides
                }
            }
        } finally {
            readLock.unlock();
        }
    }

    private int drainAppIn(ByteBuffer dst) {
        appIn.flip();
        int n = Math.min(appIn.remaining(), dst.remaining());
        ByteBuffer slice = appIn.slice(appIn.position(), n);
        dst.put(slice);
        appIn.position(appIn.position() + n);
        appIn.compact();
        return n;
    }

    /** Post-handshake messages (TLS 1.3 key update, 1.2 renegotiation) can need tasks or an answer. */
    private void afterUnwrap(SSLEngineResult r) throws IOException {
        SSLEngineResult.HandshakeStatus hs = r.getHandshakeStatus();
        while (true) {
            if (hs == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                runTasks();
                hs = engine.getHandshakeStatus();
            } else if (hs == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
                writeLock.lock();
                try {
                    netOut.clear();
                    SSLEngineResult w = engine.wrap(EMPTY, netOut);
                    netOut.flip();
                    writeAll(netOut);
                    hs = w.getHandshakeStatus();
                    if (w.getStatus() == SSLEngineResult.Status.CLOSED) return;
                } finally {
                    writeLock.unlock();
                }
            } else {
                return;
            }
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long total = 0;
        for (int i = offset; i < offset + length; i++) total += srcs[i].remaining();
        long done = 0;
        long stalledSince = 0;
        writeLock.lock();
        try {
            while (done < total) {
                if (closed) throw new ClosedChannelException();
                netOut.clear();
                boolean progress = false;
                while (done < total && netOut.remaining() >= packetSize) {
                    SSLEngineResult r = engine.wrap(srcs, offset, length, netOut);
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new ClosedChannelException();
                    if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
                    done += r.bytesConsumed();
                    if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) break;
                    progress = true;
                }
                netOut.flip();
                writeAll(netOut);
                if (!progress && done < total) {
                    // A renegotiation waits for the reader: let it take the write lock meanwhile.
                    if (stalledSince == 0) stalledSince = System.nanoTime();
                    if (System.nanoTime() - stalledSince > TimeUnit.SECONDS.toNanos(30)) throw new IOException("TLS write stalled");
                    writeLock.unlock();
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted");
                    } finally {
                        writeLock.lock();
                    }
                } else {
                    stalledSince = 0;
                }
            }
            return total;
        } finally {
            writeLock.unlock();
        }
    }

    private void writeAll(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) channel.write(b);
    }

    private void runTasks() {
        for (Runnable task; (task = engine.getDelegatedTask()) != null; ) task.run();
    }

    @Override
    public String peerIdentity() { return identity; }

    @Override
    public String protocol() { return engine.getSession().getProtocol(); }

    @Override
    public String cipherSuite() { return engine.getSession().getCipherSuite(); }

    @Override
    public boolean isOpen() { return !closed && channel.isOpen(); }

    /**
     * Sends close_notify if no writer is busy, then closes the socket (which
     * wakes any blocked reader or writer). The notify goes out on its own
     * thread, given a moment only, so a peer that stopped reading cannot
     * hold up whoever closes (an export being deleted, say).
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        ByteBuffer notify = null;
        if (writeLock.tryLock()) {
            try {
                engine.closeOutbound();
                notify = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
                engine.wrap(EMPTY, notify);
                notify.flip();
            } catch (IOException | RuntimeException e) {
                notify = null;
            } finally {
                writeLock.unlock();
            }
        }
        if (notify != null && notify.hasRemaining() && channel.isOpen()) {
            ByteBuffer bytes = notify;
            Thread t = Thread.ofVirtual().start(() -> {
                try {
                    writeAll(bytes);
                } catch (IOException ignored) {
                    // the peer may be gone already
                }
            });
            try {
                t.join(Duration.ofMillis(100));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        closeQuietly();
    }

    private void closeQuietly() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }

    private static ByteBuffer grow(ByteBuffer b, int atLeast) {
        int size = Math.max(atLeast, b.capacity() * 2);
        ByteBuffer n = b.isDirect() ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size);
        b.flip();
        n.put(b);
        return n;
    }

    private static String peerName(SSLSession s) {
        try {
            Certificate[] chain = s.getPeerCertificates();
            if (chain.length > 0 && chain[0] instanceof X509Certificate x) {
                return DistinguishedName.format(x.getSubjectX500Principal().getEncoded());
            }
        } catch (SSLPeerUnverifiedException e) {
            // verify-peer=off: no client certificate
        }
        return null;
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
