package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * All block nodes by name, who uses each one, and the rules for adding and
 * deleting them. Only the monitor thread (under the daemon's lock) changes
 * the graph; I/O paths hold node references and never look names up.
 */
public final class BlockGraph {
    private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z][A-Za-z0-9_.\\-]*");

    private static final class Entry {
        final BlockNode node;
        final boolean monitorOwned;
        final List<BlockNode> owned = new ArrayList<>(); // implicit children, deleted with this node
        final List<BlockNode> referenced = new ArrayList<>(); // children by name
        int parents;
        int users;

        Entry(BlockNode node, boolean monitorOwned) {
            this.node = node;
            this.monitorOwned = monitorOwned;
        }
    }

    private final Map<String, Entry> nodes = new LinkedHashMap<>();
    private long autoNameCounter;

    /** blockdev-add / --blockdev: options already checked against BlockdevOptions. */
    public BlockNode add(ObjectNode options) throws IOException {
        if (!options.has("node-name")) throw QapiError.generic("'node-name' must be specified for the root node");
        boolean readOnly = options.has("read-only") && options.get("read-only").asBoolean();
        return open(options, readOnly, true, false);
    }

    public BlockNode find(String name) {
        Entry e = nodes.get(name);
        return e == null ? null : e.node;
    }

    /** Looks a node up as blockdev references do, with QEMU's error. */
    public BlockNode lookup(String name) {
        BlockNode n = find(name);
        if (n == null) throw QapiError.generic("Cannot find device='%s' nor node-name='%s'", name, name);
        return n;
    }

    public List<BlockNode> nodes() {
        List<BlockNode> out = new ArrayList<>();
        for (Entry e : nodes.values()) out.add(e.node);
        return out.reversed(); // newest first, as QEMU lists them
    }

    /** An export or other non-node user starts or stops using the node. */
    public void addUser(BlockNode node) { entry(node).users++; }

    public void removeUser(BlockNode node) { entry(node).users--; }

    private Entry entry(BlockNode node) {
        Entry e = nodes.get(node.nodeName());
        if (e == null || e.node != node) throw new IllegalStateException("node not in graph: " + node.nodeName());
        return e;
    }

    /** blockdev-del. */
    public void delete(String name) throws IOException {
        Entry e = nodes.get(name);
        if (e == null) throw QapiError.generic("Failed to find node with node-name='%s'", name);
        if (e.users > 0) throw QapiError.generic("Node %s is in use", name);
        if (!e.monitorOwned) throw QapiError.generic("Node %s is not owned by the monitor", name);
        if (e.parents > 0) throw QapiError.generic("Block device %s is in use", name);
        release(e);
    }

    /** Closes every node, parents before children (at shutdown). */
    public void closeAll() {
        for (Entry e : new ArrayList<>(nodes.values()).reversed()) {
            if (nodes.containsKey(e.node.nodeName()) && e.parents == 0) {
                try {
                    release(e);
                } catch (IOException ex) {
                    System.err.println("jsd: closing " + e.node.nodeName() + ": " + ex.getMessage());
                }
            }
        }
    }

    private void release(Entry e) throws IOException {
        nodes.remove(e.node.nodeName());
        try {
            e.node.close();
        } finally {
            for (BlockNode child : e.referenced) entry(child).parents--;
            for (BlockNode child : e.owned) {
                Entry ce = entry(child);
                ce.parents--;
                if (ce.parents == 0 && ce.users == 0) release(ce);
            }
        }
    }

    private String autoName() {
        return "#block" + (autoNameCounter++) + String.format("%02d", ThreadLocalRandom.current().nextInt(100));
    }

    private BlockNode open(ObjectNode options, boolean readOnly, boolean monitorOwned, boolean parentUnmap) throws IOException {
        // "discard" is inherited by implicitly opened children, as in QEMU
        boolean unmap = options.has("discard") ? !options.get("discard").asText().equals("ignore") : parentUnmap;
        String name = options.has("node-name") ? options.get("node-name").asText() : null;
        if (name != null) {
            if (!NODE_NAME.matcher(name).matches()) throw QapiError.generic("Invalid node-name: '%s'", name);
            if (name.length() > 31) throw QapiError.generic("Node name too long");
            if (nodes.containsKey(name)) throw QapiError.generic("Duplicate nodes with node-name='%s'", name);
        } else {
            name = autoName();
        }
        List<BlockNode> owned = new ArrayList<>();
        List<BlockNode> referenced = new ArrayList<>();
        BlockDriver.OpenContext ctx = new BlockDriver.OpenContext() {
            @Override public boolean readOnly() { return readOnly; }

            @Override
            public BlockNode child(JsonNode ref, String role) throws IOException {
                if (ref.isTextual()) {
                    BlockNode child = lookup(ref.asText());
                    if (!readOnly && child.isReadOnly()) throw QapiError.generic("Block node is read-only");
                    referenced.add(child);
                    return child;
                }
                ObjectNode childOpts = (ObjectNode) ref;
                boolean childRo = childOpts.has("read-only") ? childOpts.get("read-only").asBoolean() : readOnly;
                BlockNode child = open(childOpts, childRo, false, unmap);
                owned.add(child);
                return child;
            }

            @Override
            public BlockNode openImage(String filename, String format, boolean ro) throws IOException {
                ObjectNode file = options.objectNode();
                file.put("driver", "file");
                file.put("filename", filename);
                if (format == null) format = ImageProbe.probe(filename);
                ObjectNode image = file;
                if (!format.equals("file")) {
                    image = options.objectNode();
                    image.put("driver", format);
                    image.set("file", file);
                }
                BlockNode node = open(image, ro, false, unmap);
                owned.add(node);
                return node;
            }
        };
        BlockNode node;
        try {
            node = BlockDrivers.get(options.get("driver").asText()).open(options, ctx);
        } catch (IOException | RuntimeException ex) {
            for (BlockNode n : owned) {
                Entry ce = nodes.get(n.nodeName());
                if (ce != null && ce.parents == 0 && ce.users == 0) {
                    try { release(ce); } catch (IOException ignored) { }
                }
            }
            throw ex;
        }
        node.setNodeName(name);
        node.dirtyBitmaps().setRecordDiscards(unmap);
        Entry e = new Entry(node, monitorOwned);
        e.owned.addAll(owned);
        e.referenced.addAll(referenced);
        for (BlockNode c : owned) entry(c).parents++;
        for (BlockNode c : referenced) entry(c).parents++;
        nodes.put(name, e);
        return node;
    }
}
