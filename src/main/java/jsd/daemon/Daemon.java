package jsd.daemon;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockGraph;
import jsd.export.ExportRegistry;
import jsd.qapi.Introspection;
import jsd.qapi.Schema;
import jsd.qmp.QmpCommands;
import jsd.qmp.QmpDispatcher;
import jsd.qmp.QmpEvents;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The daemon's state and its QMP commands: the block graph, the exports,
 * user objects, monitors. Command-line options and QMP commands both come
 * here; each export type adds its own commands through {@link #commands()}.
 */
public final class Daemon {
    public static final String VERSION = "0.1.0";
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final ReentrantLock lock = new ReentrantLock();
    private final QmpEvents events = new QmpEvents();
    private final QmpCommands commands = new QmpCommands();
    private final BlockGraph graph = new BlockGraph();
    private final ExportRegistry exports;
    private final UserObjects objects = new UserObjects();
    private final QmpDispatcher dispatcher;
    private final Monitors monitors;
    private final CountDownLatch stopped = new CountDownLatch(1);

    public Daemon() {
        exports = new ExportRegistry(graph, lock, events::emit);
        dispatcher = new QmpDispatcher(commands, events, lock, versionInfo());
        dispatcher.onQuit(this::stop);
        monitors = new Monitors(dispatcher);
        registerCommands();
    }

    public ReentrantLock lock() { return lock; }

    public QmpCommands commands() { return commands; }

    public QmpEvents events() { return events; }

    public BlockGraph graph() { return graph; }

    public ExportRegistry exports() { return exports; }

    public UserObjects objects() { return objects; }

    public Monitors monitors() { return monitors; }

    /** Blocks until quit, a signal, or {@link #stop()}. */
    public void awaitStop() throws InterruptedException { stopped.await(); }

    /** Ends the daemon: exports are shut down hard, nodes flushed and closed. */
    public void stop() {
        lock.lock();
        try {
            if (stopping) return;
            stopping = true;
            exports.shutdownAll();
        } finally {
            lock.unlock();
        }
        // Requests already running finish (or fail) before their nodes close: a
        // node closed under an in-flight write could lose an acknowledged update.
        // Exports report themselves finished under the lock, so wait outside it.
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
        while (!exports.list().isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        lock.lock();
        try {
            graph.closeAll();
            monitors.close();
            shutdownHooks.forEach(Runnable::run);
        } finally {
            lock.unlock();
            stopped.countDown();
        }
    }

    private boolean stopping;

    private java.util.function.Consumer<ObjectNode> nbdServerOption = o -> {
        throw jsd.qapi.QapiError.generic("jsd was built without an NBD server");
    };

    /** What --nbd-server does (set by the NBD server module); takes checked NbdServerOptions. */
    public java.util.function.Consumer<ObjectNode> nbdServerOption() { return nbdServerOption; }

    public void setNbdServerOption(java.util.function.Consumer<ObjectNode> c) { nbdServerOption = c; }

    private final java.util.List<Runnable> shutdownHooks = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Something to close when the daemon stops (the NBD server's listener, say). */
    public void onStop(Runnable r) { shutdownHooks.add(r); }

    private static ObjectNode versionInfo() {
        ObjectNode v = F.objectNode();
        ObjectNode q = v.putObject("qemu");
        // jsd speaks qemu-storage-daemon 7.2's QMP dialect
        q.put("micro", 0);
        q.put("minor", 2);
        q.put("major", 7);
        v.put("package", "jsd " + VERSION);
        return v;
    }

    private void registerCommands() {
        commands.register("qmp_capabilities", a -> F.objectNode()); // handled by the dispatcher itself
        commands.register("query-version", a -> versionInfo());
        commands.register("query-commands", a -> {
            ArrayNode out = F.arrayNode();
            for (String name : commands.all().keySet()) {
                if (Schema.get().command(name) != null) out.addObject().put("name", name);
            }
            return out;
        });
        commands.register("query-qmp-schema", a -> Introspection.describe(Schema.get(), commands.all().keySet()));
        commands.register("quit", a -> {
            dispatcher.requestQuit();
            return F.objectNode();
        });
        commands.register("blockdev-add", a -> {
            graph.add(a);
            return F.objectNode();
        });
        commands.register("blockdev-del", a -> {
            graph.delete(a.get("node-name").asText());
            return F.objectNode();
        });
        commands.register("query-block", a -> F.arrayNode()); // no named backends in a storage daemon, as in qsd
        commands.register("query-named-block-nodes", a -> NodeInfo.list(graph, a.has("flat") && a.get("flat").asBoolean()));
        commands.register("object-add", a -> {
            objects.add(a);
            exports.setIothreads(objects.idsOfType("iothread"));
            return F.objectNode();
        });
        commands.register("object-del", a -> {
            objects.delete(a.get("id").asText());
            exports.setIothreads(objects.idsOfType("iothread"));
            return F.objectNode();
        });
        commands.register("block-export-add", a -> {
            exports.add(a);
            return F.objectNode();
        });
        commands.register("block-export-del", a -> {
            exports.delete(a.get("id").asText(), a.has("mode") ? a.get("mode").asText() : "safe");
            return F.objectNode();
        });
        commands.register("query-block-exports", a -> exports.query());
    }

    /** Runs a control operation under the daemon's lock (command-line options at start-up). */
    public <T> T locked(Op<T> op) throws Exception {
        lock.lock();
        try {
            return op.run();
        } finally {
            lock.unlock();
        }
    }

    @FunctionalInterface
    public interface Op<T> {
        T run() throws Exception;
    }
}
