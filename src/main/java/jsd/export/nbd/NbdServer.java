package jsd.export.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.net.SocketAddresses;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The NBD server: its listening sockets, the exports by name, and every
 * client connection. One accept loop runs per listening socket; each
 * client gets its own thread for the handshake and its requests. With
 * max-connections set, the accept loops stop taking clients while that
 * many are connected (further clients wait in the listen backlog), as
 * QEMU does.
 */
final class NbdServer {
    /** Turns a plain connection into a TLS one after NBD_OPT_STARTTLS (supplied by the TLS module). */
    interface TlsUpgrade {
        Connection upgrade(Connection plain) throws IOException;
    }

    static final boolean DEBUG = System.getenv("JSD_NBD_DEBUG") != null;

    private final List<ServerSocketChannel> listeners;
    private final int maxConnections;
    private final Semaphore slots;
    private final TlsUpgrade tls;
    private final String tlsCredsId;
    private final Map<String, NbdExport> exports = new ConcurrentHashMap<>();
    private final Set<ClientSession> clients = ConcurrentHashMap.newKeySet();
    private final List<Thread> acceptors = new ArrayList<>();
    private final AtomicLong clientCounter = new AtomicLong();
    private volatile boolean stopped;

    private NbdServer(List<ServerSocketChannel> listeners, int maxConnections, TlsUpgrade tls, String tlsCredsId) {
        this.listeners = listeners;
        this.tlsCredsId = tlsCredsId;
        this.maxConnections = maxConnections;
        this.slots = maxConnections > 0 ? new Semaphore(maxConnections) : null;
        this.tls = tls;
    }

    /** Binds the flat SocketAddress and starts accepting. */
    static NbdServer start(JsonNode addr, int maxConnections, TlsUpgrade tls, String tlsCredsId) throws IOException {
        List<ServerSocketChannel> ls = SocketAddresses.listen(addr);
        NbdServer s = new NbdServer(ls, maxConnections, tls, tlsCredsId);
        for (ServerSocketChannel l : ls) {
            s.acceptors.add(Thread.ofVirtual().name("nbd-accept").start(() -> s.acceptLoop(l)));
        }
        return s;
    }

    int maxConnections() { return maxConnections; }

    TlsUpgrade tls() { return tls; }

    /** The tls-creds object the server uses (object-del refuses to delete it), or null. */
    String tlsCredsId() { return tlsCredsId; }

    /** The TCP port of the first inet listener (for port 0), or -1. */
    int port() {
        for (ServerSocketChannel l : listeners) {
            try {
                if (l.getLocalAddress() instanceof InetSocketAddress a) return a.getPort();
            } catch (IOException ignored) {
                // closed
            }
        }
        return -1;
    }

    private void acceptLoop(ServerSocketChannel listener) {
        while (!stopped) {
            try {
                if (slots != null) slots.acquire();
                SocketChannel ch;
                try {
                    ch = listener.accept();
                } catch (IOException | RuntimeException e) {
                    if (slots != null) slots.release();
                    throw e;
                }
                ClientSession c = new ClientSession(this, ch, clientCounter.incrementAndGet());
                clients.add(c);
                if (stopped) {
                    c.close();
                    clientGone(c);
                    continue;
                }
                c.start();
            } catch (ClosedChannelException e) {
                return;
            } catch (InterruptedException e) {
                return;
            } catch (IOException e) {
                if (stopped) return;
                System.err.println("jsd: nbd: accept failed: " + e.getMessage());
                try {
                    Thread.sleep(100); // e.g. out of file descriptors: do not spin
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    /** Called once by each client's thread as it ends. */
    void clientGone(ClientSession c) {
        if (clients.remove(c) && slots != null) slots.release();
        if (DEBUG) {
            System.err.println("jsd: nbd: client " + c.id() + " closed; clients=" + clients.size()
                    + " buffers=" + BufferPool.SHARED.outstanding());
        }
    }

    NbdExport export(String name) { return exports.get(name); }

    /** Every export, in the order they were added (NBD_OPT_LIST). */
    List<NbdExport> exports() {
        List<NbdExport> l = new ArrayList<>(exports.values());
        l.sort(java.util.Comparator.comparingLong(NbdExport::sequence));
        return l;
    }

    boolean hasExport(String name) { return exports.containsKey(name); }

    void addExport(NbdExport e) { exports.put(e.name(), e); }

    void removeExport(NbdExport e) { exports.remove(e.name(), e); }

    boolean isStopped() { return stopped; }

    /** Closes the listeners and drops every client; exports are removed by the caller. */
    void stop() {
        stopped = true;
        for (ServerSocketChannel l : listeners) {
            SocketAddresses.unlinkIfUnix(l);
            try {
                l.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
        for (Thread t : acceptors) t.interrupt();
        // A listener closed while its acceptor sits in accept() keeps its port until that
        // thread has left: wait for it, so that a new server can bind the same address at once.
        for (Thread t : acceptors) {
            try {
                t.join(java.time.Duration.ofSeconds(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (ClientSession c : clients) c.close();
    }
}
