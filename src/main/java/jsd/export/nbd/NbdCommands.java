package jsd.export.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BitmapCommands;
import jsd.block.BlockNode;
import jsd.block.DirtyBitmap;
import jsd.crypto.Crypto;
import jsd.daemon.Daemon;
import jsd.export.BlockExport;
import jsd.net.SocketAddresses;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;

import static jsd.export.nbd.NbdConstants.NBD_MAX_STRING_SIZE;

/**
 * The NBD server's part of the daemon: nbd-server-start/-stop, the
 * deprecated nbd-server-add/-remove, the "nbd" export type of
 * block-export-add and --export, and --nbd-server. Messages are
 * qemu-storage-daemon 7.2's. Everything here runs under the daemon lock.
 */
public final class NbdCommands {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** How long nbd-server-stop waits for dropped clients to leave their exports. */
    private static final long STOP_WAIT_MS = 10_000;

    private final Daemon daemon;
    private NbdServer server;

    private NbdCommands(Daemon daemon) { this.daemon = daemon; }

    /** Wires the NBD server into the daemon (called from jsd.cli.Extensions). */
    public static NbdCommands install(Daemon daemon) {
        NbdCommands c = new NbdCommands(daemon);
        daemon.exports().registerDriver("nbd", c::createExport);
        daemon.setNbdServerOption(c::start);
        daemon.commands().register("nbd-server-start", a -> {
            ObjectNode flat = SocketAddresses.flatten((ObjectNode) a.get("addr"));
            ObjectNode opts = a.deepCopy();
            opts.set("addr", flat);
            c.start(opts);
            return F.objectNode();
        });
        daemon.commands().register("nbd-server-stop", a -> {
            c.stop();
            return F.objectNode();
        });
        daemon.commands().register("nbd-server-add", a -> {
            c.legacyAdd(a);
            return F.objectNode();
        });
        daemon.commands().register("nbd-server-remove", a -> {
            c.legacyRemove(a.get("name").asText(), a.has("mode") ? a.get("mode").asText() : "safe");
            return F.objectNode();
        });
        daemon.objects().registerUser("NBD server", id -> {
            NbdServer s = c.server;
            return s != null && id.equals(s.tlsCredsId());
        });
        daemon.onStop(c::stopQuietly);
        return c;
    }

    /** The running server, or null (for --demo and tests of this package). */
    public synchronized NbdServerInfo info() {
        NbdServer s = server;
        return s == null ? null : new NbdServerInfo(s.port());
    }

    /** What a caller may learn about the running server. */
    public record NbdServerInfo(int port) {}

    // ---- nbd-server-start / --nbd-server ----

    /** Starts the server from NbdServerOptions (flat SocketAddress). */
    public void start(ObjectNode options) {
        if (server != null) throw QapiError.generic("NBD server already running");
        String tlsCreds = options.has("tls-creds") ? options.get("tls-creds").asText() : null;
        // like qsd 7.2, tls-authz without tls-creds is accepted and has no effect
        String tlsAuthz = options.has("tls-authz") ? options.get("tls-authz").asText() : null;
        int max = options.has("max-connections") ? (int) options.get("max-connections").asLong() : 0;
        StartTls tls = null;
        if (tlsCreds != null) {
            try {
                tls = new StartTls(daemon.objects(), Crypto.serverCreds(daemon.objects(), tlsCreds), tlsAuthz);
            } catch (QapiError e) {
                // qsd binds before it checks the credentials: a bind error wins
                probeBind(options.get("addr"));
                throw e;
            }
        }
        try {
            server = NbdServer.start(options.get("addr"), max, tls, tlsCreds);
        } catch (IOException e) {
            throw bindError(e);
        }
    }

    private static void probeBind(JsonNode addr) {
        try {
            for (java.nio.channels.ServerSocketChannel l : SocketAddresses.listen(addr)) {
                SocketAddresses.unlinkIfUnix(l);
                l.close();
            }
        } catch (IOException e) {
            throw bindError(e);
        }
    }

    private static QapiError bindError(IOException e) {
        return QapiError.generic("Failed to bind socket: %s", e.getMessage());
    }

    // ---- nbd-server-stop ----

    private void stop() throws InterruptedException {
        if (server == null) throw QapiError.generic("NBD server not running");
        NbdServer s = server;
        // exports first (hard), as QEMU does, so that each is gone and reported before the reply
        for (BlockExport e : daemon.exports().list()) {
            if (e instanceof NbdExport n && n.server() == s && !n.shuttingDown()) daemon.exports().delete(e.id(), "hard");
        }
        s.stop();
        server = null;
        awaitExportsGone(s);
    }

    /** Waits, releasing the daemon lock meanwhile, until the server's dropped clients have left. */
    private void awaitExportsGone(NbdServer s) throws InterruptedException {
        Condition pause = daemon.lock().newCondition();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_WAIT_MS);
        while (System.nanoTime() < deadline) {
            boolean left = false;
            for (BlockExport e : daemon.exports().list()) {
                if (e instanceof NbdExport n && n.server() == s) left = true;
            }
            if (!left) return;
            if (daemon.lock().isHeldByCurrentThread()) pause.await(5, TimeUnit.MILLISECONDS);
            else Thread.sleep(5);
        }
    }

    private void stopQuietly() {
        NbdServer s = server;
        server = null;
        if (s != null) s.stop();
    }

    // ---- the "nbd" export type ----

    private BlockExport createExport(ObjectNode options, BlockNode node) {
        if (server == null) throw QapiError.generic("NBD server not running");
        String name = options.has("name") ? options.get("name").asText() : options.get("node-name").asText();
        if (name.getBytes(StandardCharsets.UTF_8).length > NBD_MAX_STRING_SIZE) {
            throw QapiError.generic("export name '%s' too long", name);
        }
        String description = options.has("description") ? options.get("description").asText() : "";
        if (description.getBytes(StandardCharsets.UTF_8).length > NBD_MAX_STRING_SIZE) {
            throw QapiError.generic("description '%s' too long", description);
        }
        if (server.hasExport(name)) throw QapiError.generic("NBD server already has export named '%s'", name);
        boolean writable = options.has("writable") && options.get("writable").asBoolean();
        List<BlockNode> owners = new ArrayList<>();
        List<DirtyBitmap> bitmaps = exportedBitmaps(options.get("bitmaps"), node, writable, owners);
        boolean depth = options.has("allocation-depth") && options.get("allocation-depth").asBoolean();
        NbdExport e = new NbdExport(options, node, server, name, description, depth, bitmaps,
                () -> releaseBitmaps(bitmaps, owners));
        server.addExport(e);
        // the nodes holding the bitmaps stay until the export is gone (qsd 7.2 lets them go and then aborts)
        for (BlockNode owner : owners) daemon.graph().addUser(owner);
        for (DirtyBitmap b : bitmaps) b.setBusy(true);
        return e;
    }

    private void releaseBitmaps(List<DirtyBitmap> bitmaps, List<BlockNode> owners) {
        daemon.lock().lock(); // the graph changes only under the daemon lock
        try {
            for (DirtyBitmap b : bitmaps) b.setBusy(false);
            for (BlockNode owner : owners) daemon.graph().removeUser(owner);
        } finally {
            daemon.lock().unlock();
        }
    }

    /**
     * Resolves the "bitmaps" option as qsd 7.2 does: a plain name is looked
     * for on the node and then down its backing chain; {node, name} may
     * name any node. All are checked before any becomes busy.
     */
    private List<DirtyBitmap> exportedBitmaps(JsonNode refs, BlockNode node, boolean writable, List<BlockNode> owners) {
        List<DirtyBitmap> out = new ArrayList<>();
        if (refs == null) return out;
        for (JsonNode ref : refs) {
            DirtyBitmap bm;
            if (ref.isTextual()) {
                String name = ref.asText();
                BlockNode owner = node;
                bm = null;
                while (owner != null && (bm = owner.dirtyBitmaps().find(name)) == null) owner = owner.backing();
                if (bm == null) throw QapiError.generic("Bitmap '%s' is not found", name);
                // a read-only export of a bitmap that still records writes to its node would go stale
                if (!writable && !owner.isReadOnly() && bm.enabled()) {
                    throw QapiError.generic("Enabled bitmap '%s' incompatible with readonly export", name);
                }
                owners.add(owner);
            } else {
                bm = BitmapCommands.lookup(daemon.graph(), ref.get("node").asText(), ref.get("name").asText());
                owners.add(daemon.graph().find(ref.get("node").asText()));
            }
            BitmapCommands.check(bm, false);
            out.add(bm);
        }
        return out;
    }

    // ---- deprecated nbd-server-add / nbd-server-remove ----

    private void legacyAdd(ObjectNode a) throws IOException {
        if (server == null) throw QapiError.generic("NBD server not running");
        String device = a.get("device").asText();
        // the export's id is its name, which defaults to the device
        String name = a.has("name") ? a.get("name").asText() : device;
        ObjectNode opts = F.objectNode();
        opts.put("type", "nbd");
        opts.put("id", name);
        opts.put("node-name", device);
        opts.put("name", name);
        if (a.has("description")) opts.set("description", a.get("description"));
        if (a.has("writable")) opts.set("writable", a.get("writable"));
        if (a.has("bitmap")) opts.putArray("bitmaps").add(a.get("bitmap").asText());
        daemon.exports().add(opts);
    }

    private void legacyRemove(String id, String mode) {
        BlockExport e = daemon.exports().find(id);
        if (e == null) throw QapiError.generic("Export '%s' is not found", id);
        if (!(e instanceof NbdExport)) throw QapiError.generic("Export '%s' is not an NBD export", id);
        daemon.exports().delete(id, mode);
    }
}
