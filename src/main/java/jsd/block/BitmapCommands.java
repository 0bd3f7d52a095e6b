package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.Daemon;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The block-dirty-bitmap-* commands and x-debug-block-dirty-bitmap-sha256,
 * with qemu-storage-daemon 7.2's checks in its order and words. They run
 * under the daemon lock, so they never race with one another; the write
 * path only sets bits and tolerates them.
 */
public final class BitmapCommands {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final long DEFAULT_GRANULARITY = 64 * 1024;
    /** At most 2^33 bits (1 GiB) per bitmap. */
    private static final long MAX_BITS = 1L << 33;

    private final BlockGraph graph;

    private BitmapCommands(BlockGraph graph) { this.graph = graph; }

    /** Registers the commands (called from jsd.cli.Extensions). */
    public static void install(Daemon daemon) {
        BitmapCommands c = new BitmapCommands(daemon.graph());
        daemon.commands().register("block-dirty-bitmap-add", a -> {
            c.add(a);
            return F.objectNode();
        });
        daemon.commands().register("block-dirty-bitmap-remove", a -> {
            c.remove(a.get("node").asText(), a.get("name").asText());
            return F.objectNode();
        });
        daemon.commands().register("block-dirty-bitmap-clear", a -> {
            DirtyBitmap b = c.lookup(a.get("node").asText(), a.get("name").asText());
            check(b, true);
            b.clear();
            return F.objectNode();
        });
        daemon.commands().register("block-dirty-bitmap-enable", a -> {
            DirtyBitmap b = c.lookup(a.get("node").asText(), a.get("name").asText());
            check(b, false);
            b.setEnabled(true);
            return F.objectNode();
        });
        daemon.commands().register("block-dirty-bitmap-disable", a -> {
            DirtyBitmap b = c.lookup(a.get("node").asText(), a.get("name").asText());
            check(b, false);
            b.setEnabled(false);
            return F.objectNode();
        });
        daemon.commands().register("block-dirty-bitmap-merge", a -> {
            c.merge(a.get("node").asText(), a.get("target").asText(), a.get("bitmaps"));
            return F.objectNode();
        });
        daemon.commands().register("x-debug-block-dirty-bitmap-sha256", a -> {
            DirtyBitmap b = c.lookup(a.get("node").asText(), a.get("name").asText());
            ObjectNode r = F.objectNode();
            r.put("sha256", b.sha256());
            return r;
        });
    }

    // ---- block-dirty-bitmap-add ----

    private void add(ObjectNode a) {
        String name = a.get("name").asText();
        if (name.isEmpty()) throw QapiError.generic("Bitmap name cannot be empty");
        BlockNode node = graph.lookup(a.get("node").asText());
        long granularity;
        if (a.has("granularity")) {
            granularity = a.get("granularity").asLong();
            if (granularity < DirtyBitmap.MIN_GRANULARITY || Long.bitCount(granularity) != 1) {
                throw QapiError.generic("Granularity must be power of 2 and at least 512");
            }
        } else {
            granularity = defaultGranularity(node);
        }
        boolean persistent = a.has("persistent") && a.get("persistent").asBoolean();
        boolean disabled = a.has("disabled") && a.get("disabled").asBoolean();
        if (persistent) {
            if (!(node instanceof PersistentBitmaps store)) {
                throw QapiError.generic("Can't store persistent bitmaps to %s: Operation not supported", node.nodeName());
            }
            // qsd checks for a duplicate between "can the format store any" and the format's own checks
            if (node.dirtyBitmaps().find(name) != null) throw QapiError.generic("Bitmap already exists: %s", name);
            store.checkCanStore(name, granularity);
        }
        if (node.dirtyBitmaps().find(name) != null) throw QapiError.generic("Bitmap already exists: %s", name);
        if (name.getBytes(StandardCharsets.UTF_8).length > DirtyBitmap.MAX_NAME_LENGTH) {
            throw QapiError.generic("Bitmap name too long: %s", name);
        }
        long size = sizeOf(node);
        if ((size >>> Long.numberOfTrailingZeros(granularity)) > MAX_BITS) {
            // jsd keeps every bit in memory (QEMU's hierarchical bitmap does too)
            throw QapiError.generic("Bitmap '%s' would take more than %d MiB of memory; use a larger granularity",
                    name, MAX_BITS >>> 23);
        }
        DirtyBitmap b = new DirtyBitmap(name, granularity, size, !disabled);
        b.setPersistent(persistent);
        node.dirtyBitmaps().add(b);
    }

    /** As QEMU: the cluster size where the format has one, kept within [4 KiB, 64 KiB]; else 64 KiB. */
    static long defaultGranularity(BlockNode node) {
        ObjectNode image = F.objectNode();
        node.describe(image);
        if (!image.has("cluster-size")) return DEFAULT_GRANULARITY;
        return Math.min(DEFAULT_GRANULARITY, Math.max(4096, image.get("cluster-size").asLong()));
    }

    private static long sizeOf(BlockNode node) {
        try {
            return node.size();
        } catch (IOException e) {
            throw QapiError.generic("Could not get the size of %s: %s", node.nodeName(), e.getMessage());
        }
    }

    // ---- remove, merge ----

    private void remove(String nodeName, String name) throws IOException {
        DirtyBitmap b = lookup(nodeName, name);
        if (b.busy()) throw busy(b);
        if (b.readOnly()) throw QapiError.generic("Bitmap '%s' is readonly and cannot be modified", b.name());
        BlockNode node = graph.find(nodeName);
        if (b.persistent() && node instanceof PersistentBitmaps store) store.removeStored(b);
        node.dirtyBitmaps().remove(b);
    }

    private void merge(String nodeName, String target, JsonNode sources) {
        DirtyBitmap dst = lookup(nodeName, target);
        check(dst, true);
        BlockNode node = graph.find(nodeName);
        // gathered apart first, so that a failure leaves the target as it was
        DirtyBitmap acc = new DirtyBitmap("", dst.granularity(), dst.size(), true);
        for (JsonNode s : sources) {
            DirtyBitmap src;
            if (s.isTextual()) {
                src = node.dirtyBitmaps().find(s.asText());
                if (src == null) throw QapiError.generic("Dirty bitmap '%s' not found", s.asText());
            } else {
                src = lookup(s.get("node").asText(), s.get("name").asText());
            }
            check(src, false);
            if (src.size() != acc.size()) {
                throw QapiError.generic("Bitmaps are of different sizes (destination size is %d, source size is %d)"
                        + " and can't be merged", acc.size(), src.size());
            }
            acc.merge(src);
        }
        dst.merge(acc);
    }

    // ---- lookups and checks shared with the NBD export ----

    private DirtyBitmap lookup(String nodeName, String name) { return lookup(graph, nodeName, name); }

    /** A bitmap by node and name, with QEMU's errors. */
    public static DirtyBitmap lookup(BlockGraph graph, String nodeName, String name) {
        BlockNode node = graph.find(nodeName);
        if (node == null) throw QapiError.generic("Node '%s' not found", nodeName);
        DirtyBitmap b = node.dirtyBitmaps().find(name);
        if (b == null) throw QapiError.generic("Dirty bitmap '%s' not found", name);
        return b;
    }

    /** Refuses a bitmap that an operation uses, that is inconsistent, or (when it would be changed) read-only. */
    public static void check(DirtyBitmap b, boolean modifies) {
        if (b.busy()) throw busy(b);
        if (modifies && b.readOnly()) throw QapiError.generic("Bitmap '%s' is readonly and cannot be modified", b.name());
        if (b.inconsistent()) throw QapiError.generic("Bitmap '%s' is inconsistent and cannot be used", b.name());
    }

    private static QapiError busy(DirtyBitmap b) {
        return QapiError.generic("Bitmap '%s' is currently in use by another operation and cannot be used", b.name());
    }

    /** BlockDirtyInfo of each bitmap of the node, newest first, or null when it has none. */
    public static ArrayNode info(BlockNode node) {
        List<DirtyBitmap> all = node.dirtyBitmaps().list();
        if (all.isEmpty()) return null;
        ArrayNode out = F.arrayNode();
        for (DirtyBitmap b : all.reversed()) {
            ObjectNode o = out.addObject();
            o.put("name", b.name());
            o.put("recording", b.enabled() && !b.inconsistent());
            o.put("persistent", b.persistent());
            o.put("busy", b.busy());
            o.put("granularity", b.granularity());
            o.put("count", b.count());
            if (b.inconsistent()) o.put("inconsistent", true);
        }
        return out;
    }
}
