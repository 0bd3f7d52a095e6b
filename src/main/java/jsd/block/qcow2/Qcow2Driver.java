package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockDriver;
import jsd.block.BlockDrivers;
import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.file.Path;

/** Opens qcow2 nodes from BlockdevOptionsQcow2: header checks, option checks, the backing chain. */
public final class Qcow2Driver implements BlockDriver {
    private static final long DEFAULT_L2_CACHE_MAX = 32L << 20; // QEMU's default cap
    private static final int MAX_CHAIN = 64;
    private static final ThreadLocal<Integer> DEPTH = ThreadLocal.withInitial(() -> 0);

    private Qcow2Driver() {}

    /** Registers the driver (called once at start-up). */
    public static void install() {
        BlockDrivers.register("qcow2", new Qcow2Driver());
    }

    @Override
    public BlockNode open(ObjectNode o, OpenContext ctx) throws IOException {
        refuseUnsupportedOptions(o);
        boolean readOnly = ctx.readOnly();
        BlockNode file = ctx.child(o.get("file"), "file");
        Qcow2Header h = Qcow2Header.read(file);
        if (!readOnly) {
            if ((h.incompatible & Qcow2Header.INCOMPAT_CORRUPT) != 0) {
                throw new BlockException(Errno.EACCES, "qcow2: Image is corrupt; cannot be opened read/write");
            }
            if ((h.incompatible & Qcow2Header.INCOMPAT_DIRTY) != 0) {
                throw new BlockException(Errno.ENOTSUP, "qcow2: image is dirty (lazy refcounts were in use); jsd does not repair "
                        + "refcounts: run 'qemu-img check -r all' or open it read-only");
            }
            if (file.isReadOnly()) throw new BlockException(Errno.EACCES, "qcow2: the file child is read-only");
        }
        int cs = h.clusterSize();
        int[] caches = cacheTables(o, h);
        String discard = o.has("discard") ? o.get("discard").asText() : "ignore";
        boolean unmap = discard.equals("unmap") || discard.equals("on");
        boolean passDiscard = o.has("pass-discard-request") ? o.get("pass-discard-request").asBoolean() : unmap;
        BlockNode backing = openBacking(o, ctx, h, file);
        return new Qcow2Node(file, backing, h, readOnly, caches[0], caches[1], unmap, passDiscard);
    }

    private static void refuseUnsupportedOptions(ObjectNode o) throws BlockException {
        if (o.has("data-file")) throw new BlockException(Errno.ENOTSUP, "qcow2 external data files (data-file) are not supported by jsd");
        if (o.has("encrypt")) throw new BlockException(Errno.ENOTSUP, "qcow2 encryption (encrypt) is not supported by jsd");
        if (o.has("lazy-refcounts") && o.get("lazy-refcounts").asBoolean()) {
            throw new BlockException(Errno.ENOTSUP, "qcow2 lazy refcounts (lazy-refcounts=on) are not supported by jsd");
        }
    }

    /** Cache sizes in tables {L2, refcount}, from the options or QEMU's defaults. */
    private static int[] cacheTables(ObjectNode o, Qcow2Header h) throws BlockException {
        int cs = h.clusterSize();
        if (o.has("l2-cache-entry-size") && o.get("l2-cache-entry-size").asLong() != cs) {
            throw new BlockException(Errno.ENOTSUP, "l2-cache-entry-size other than the cluster size is not supported by jsd");
        }
        long entrySize = h.extendedL2() ? 16 : 8;
        long coverAll = Qcow2Header.ceil(h.size, cs) * entrySize; // L2 bytes mapping the whole disk
        long l2;
        long refcount;
        if (o.has("l2-cache-size")) {
            l2 = o.get("l2-cache-size").asLong();
        } else if (o.has("cache-size")) {
            l2 = o.get("cache-size").asLong() - (o.has("refcount-cache-size") ? o.get("refcount-cache-size").asLong() : 0);
            l2 = Math.min(l2, coverAll);
        } else {
            l2 = Math.min(coverAll, DEFAULT_L2_CACHE_MAX);
        }
        refcount = o.has("refcount-cache-size") ? o.get("refcount-cache-size").asLong() : Math.max(4L * cs, l2 / 4);
        if (l2 < 0 || refcount < 0) throw new BlockException(Errno.EINVAL, "qcow2 cache sizes must not be negative");
        int l2Tables = (int) Math.max(2, Math.min(Integer.MAX_VALUE, Qcow2Header.ceil(l2, cs)));
        int rcTables = (int) Math.max(2, Math.min(Integer.MAX_VALUE, Qcow2Header.ceil(refcount, cs)));
        return new int[] {l2Tables, rcTables};
    }

    private static BlockNode openBacking(ObjectNode o, OpenContext ctx, Qcow2Header h, BlockNode file) throws IOException {
        JsonNode ref = o.get("backing");
        if (ref != null) {
            if (ref.isNull() || (ref.isTextual() && ref.asText().isEmpty())) return null;
            return ctx.child(ref, "backing");
        }
        if (h.backingFile == null) return null;
        String name = h.backingFile;
        if (name.startsWith("json:") || name.matches("^[a-z0-9+.-]+:.*") && !name.startsWith("file:")) {
            throw new BlockException(Errno.ENOTSUP, "backing file '" + name + "': only local files can be opened as backing files by jsd");
        }
        if (name.startsWith("file:")) name = name.substring(5);
        Path p = Path.of(name);
        if (!p.isAbsolute()) {
            Path dir = Path.of(file.filename()).toAbsolutePath().getParent();
            p = dir == null ? p : dir.resolve(p);
        }
        String format = h.backingFormat;
        if (format != null && !format.equals("qcow2") && !format.equals("raw") && !format.equals("file")) {
            throw new BlockException(Errno.ENOTSUP, "backing file format '" + format + "' is not supported by jsd");
        }
        int depth = DEPTH.get();
        if (depth >= MAX_CHAIN) throw new BlockException(Errno.EINVAL, "backing chain longer than " + MAX_CHAIN + " images (a loop?)");
        DEPTH.set(depth + 1);
        try {
            return ctx.openImage(p.normalize().toString(), format, true);
        } finally {
            DEPTH.set(depth);
        }
    }
}
