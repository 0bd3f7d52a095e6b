package jsd.daemon;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.net.SocketAddresses;
import jsd.qapi.QapiError;
import jsd.qmp.QmpDispatcher;
import jsd.qmp.QmpSession;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Character devices (--chardev) and the monitors on them (--monitor). A
 * socket chardev with server=on listens; every client that connects gets
 * its own QMP session on a virtual thread (QEMU serves one client per
 * chardev at a time; jsd serves them side by side).
 */
public final class Monitors {
    private final QmpDispatcher dispatcher;
    private final Map<String, ObjectNode> chardevs = new LinkedHashMap<>();
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final Map<String, List<ServerSocketChannel>> sockets = new LinkedHashMap<>();
    private final java.util.Set<String> inUse = new java.util.HashSet<>();

    public Monitors(QmpDispatcher dispatcher) { this.dispatcher = dispatcher; }

    /**
     * --chardev, checked against JsdChardevOptions. A socket is bound here,
     * as qemu-storage-daemon does, so a bad path fails at this option; it
     * starts accepting clients once a monitor uses it.
     */
    public void addChardev(ObjectNode opts) throws IOException {
        String id = opts.get("id").asText();
        String backend = opts.get("backend").asText();
        if (chardevs.containsKey(id)) {
            // qemu-storage-daemon registers a socket's "yank" instance before the chardev itself
            if (backend.equals("socket")) throw QapiError.generic("duplicate yank instance");
            throw QapiError.generic("attempt to add duplicate property '%s' to object (type 'container')", id);
        }
        if (backend.equals("socket")) {
            boolean server = opts.has("server") && opts.get("server").asBoolean();
            if (!opts.has("path") && !opts.has("host") && !opts.has("port")) {
                throw QapiError.generic("chardev: socket: no host given");
            }
            if (!opts.has("path") && !opts.has("port")) throw QapiError.generic("chardev: socket: no port given");
            if (!server) throw QapiError.generic("chardev '%s': jsd supports only server sockets (server=on)", id);
            if (opts.has("wait") && opts.get("wait").asBoolean()) {
                throw QapiError.generic("chardev '%s': wait=on is not supported, use wait=off", id);
            }
            ObjectNode addr = opts.objectNode();
            if (opts.has("path")) {
                addr.put("type", "unix");
                addr.put("path", opts.get("path").asText());
            } else {
                addr.put("type", "inet");
                addr.put("host", opts.has("host") ? opts.get("host").asText() : "");
                addr.put("port", opts.get("port").asText());
                if (opts.has("ipv4")) addr.set("ipv4", opts.get("ipv4"));
                if (opts.has("ipv6")) addr.set("ipv6", opts.get("ipv6"));
            }
            List<ServerSocketChannel> bound = SocketAddresses.listen(addr);
            listeners.addAll(bound);
            sockets.put(id, bound);
        }
        chardevs.put(id, opts);
    }

    /** --monitor, checked against MonitorOptions. */
    public void addMonitor(ObjectNode opts) throws IOException {
        String id = opts.get("chardev").asText();
        ObjectNode chardev = chardevs.get(id);
        if (chardev == null) throw QapiError.generic("chardev \"%s\" not found", id);
        if (opts.has("mode") && opts.get("mode").asText().equals("readline")) {
            throw QapiError.generic("Only QMP is supported");
        }
        if (!inUse.add(id)) throw QapiError.generic("Device '%s' is in use", id);
        boolean pretty = opts.has("pretty") && opts.get("pretty").asBoolean();
        if (chardev.get("backend").asText().equals("stdio")) {
            InputStream in = System.in;
            Thread.ofVirtual().name("qmp-stdio").start(new QmpSession(in, System.out, () -> { }, dispatcher, pretty));
            return;
        }
        for (ServerSocketChannel l : sockets.get(id)) {
            Thread.ofVirtual().name("qmp-listen-" + id).start(() -> accept(l, pretty));
        }
    }

    private void accept(ServerSocketChannel listener, boolean pretty) {
        while (listener.isOpen()) {
            try {
                SocketChannel c = listener.accept();
                Thread.ofVirtual().name("qmp").start(new QmpSession(
                        Channels.newInputStream(c), Channels.newOutputStream(c), c, dispatcher, pretty));
            } catch (IOException e) {
                return; // closed at shutdown
            }
        }
    }

    public void close() {
        for (ServerSocketChannel l : listeners) {
            SocketAddresses.unlinkIfUnix(l);
            try {
                l.close();
            } catch (IOException ignored) {
                // shutting down
            }
        }
    }
}
