package jsd.export;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockGraph;
import jsd.block.BlockNode;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;

/**
 * Every export by id, whatever its type: block-export-add, block-export-del
 * (safe and hard), query-block-exports and BLOCK_EXPORT_DELETED. The
 * types themselves register an {@link ExportDriver}.
 */
public final class ExportRegistry {
    private final BlockGraph graph;
    private final ReentrantLock lock;
    private final BiConsumer<String, ObjectNode> events;
    private final Map<String, ExportDriver> drivers = new ConcurrentHashMap<>();
    private final Map<String, BlockExport> exports = new LinkedHashMap<>();

    /**
     * @param lock      the daemon's lock, taken when an export finishes on
     *                  a client's thread and gives its node back to the graph
     * @param events    emits a QMP event (name, data)
     */
    public ExportRegistry(BlockGraph graph, ReentrantLock lock, BiConsumer<String, ObjectNode> events) {
        this.graph = graph;
        this.lock = lock;
        this.events = events;
    }

    private static final java.util.regex.Pattern ID = java.util.regex.Pattern.compile("[A-Za-z][A-Za-z0-9_.\\-]*");

    public void registerDriver(String type, ExportDriver driver) { drivers.put(type, driver); }

    /** block-export-add: options checked against BlockExportOptions. */
    public BlockExport add(ObjectNode options) throws IOException {
        lock.lock();
        try {
            // the checks in qemu-storage-daemon's order, so that the same mistake gets the same error
            String id = options.get("id").asText();
            if (!ID.matcher(id).matches()) throw QapiError.generic("Invalid block export id");
            if (exports.containsKey(id)) throw QapiError.generic("Block export id '%s' is already in use", id);
            String nodeName = options.get("node-name").asText();
            BlockNode node = graph.find(nodeName);
            if (node == null) throw QapiError.generic("Cannot find device='' nor node-name='%s'", nodeName);
            if (options.has("iothread") || options.has("fixed-iothread")) checkIothread(options);
            String type = options.get("type").asText();
            ExportDriver driver = drivers.get(type);
            if (driver == null) throw QapiError.generic("Export type '%s' is not supported by jsd yet", type);
            boolean writable = options.has("writable") && options.get("writable").asBoolean();
            if (writable && node.isReadOnly()) throw QapiError.generic("Cannot export read-only node as writable");
            BlockExport export = driver.create(options, node);
            graph.addUser(node);
            exports.put(id, export);
            return export;
        } finally {
            lock.unlock();
        }
    }

    private Map<String, Boolean> iothreads = Map.of();

    /** The iothread objects that exist (set by the daemon as they come and go). */
    public void setIothreads(Map<String, Boolean> known) { this.iothreads = known; }

    private void checkIothread(ObjectNode options) {
        if (options.has("iothread") && !iothreads.containsKey(options.get("iothread").asText())) {
            throw QapiError.generic("iothread \"%s\" not found", options.get("iothread").asText());
        }
    }

    /** block-export-del. */
    public void delete(String id, String mode) {
        lock.lock();
        try {
            BlockExport e = exports.get(id);
            if (e == null) throw QapiError.generic("Export '%s' is not found", id);
            boolean hard = "hard".equals(mode);
            // qemu-storage-daemon's order: a second delete is refused whatever the mode
            if (e.shuttingDown()) throw QapiError.generic("Export '%s' is already shutting down", id);
            if (!hard && e.inUse()) {
                throw QapiError.generic("export '%s' still in use", id);
            }
            e.markShuttingDown();
            e.shutdown(hard, this);
        } finally {
            lock.unlock();
        }
    }

    public BlockExport find(String id) {
        lock.lock();
        try {
            return exports.get(id);
        } finally {
            lock.unlock();
        }
    }

    public List<BlockExport> list() {
        lock.lock();
        try {
            return new ArrayList<>(exports.values());
        } finally {
            lock.unlock();
        }
    }

    /** query-block-exports. */
    public ArrayNode query() {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        List<BlockExport> all = list();
        java.util.Collections.reverse(all); // newest first, as qemu-storage-daemon lists them
        for (BlockExport e : all) {
            ObjectNode o = out.addObject();
            o.put("id", e.id());
            o.put("type", e.type());
            o.put("node-name", e.node().nodeName());
            o.put("shutting-down", e.shuttingDown());
        }
        return out;
    }

    /** Called by an export once it has shut down and its last client is gone. */
    public void finished(BlockExport e) {
        lock.lock();
        try {
            if (exports.get(e.id()) != e) return; // already reported
            exports.remove(e.id());
            graph.removeUser(e.node());
        } finally {
            lock.unlock();
        }
        ObjectNode data = JsonNodeFactory.instance.objectNode();
        data.put("id", e.id());
        events.accept("BLOCK_EXPORT_DELETED", data);
    }

    /** Shuts every export down hard (daemon exit). */
    public void shutdownAll() {
        for (BlockExport e : list()) {
            e.markShuttingDown();
            e.shutdown(true, this);
        }
    }
}
