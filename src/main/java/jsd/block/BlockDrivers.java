package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;
import jsd.sys.Errno;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The block drivers jsd has, by BlockdevDriver name. */
public final class BlockDrivers {
    private static final Map<String, BlockDriver> DRIVERS = new ConcurrentHashMap<>();

    static {
        register("file", BlockDrivers::openFile);
        register("raw", BlockDrivers::openRaw);
        register("null-co", (o, ctx) -> openNull("null-co", o, ctx));
        register("null-aio", (o, ctx) -> openNull("null-aio", o, ctx));
    }

    private BlockDrivers() {}

    public static void register(String name, BlockDriver driver) { DRIVERS.put(name, driver); }

    public static BlockDriver get(String name) {
        BlockDriver d = DRIVERS.get(name);
        if (d == null) throw QapiError.generic("Driver '%s' is not supported by jsd yet", name);
        return d;
    }

    private static boolean bool(ObjectNode o, String key, boolean dflt) {
        JsonNode v = o.get(key);
        return v == null ? dflt : v.asBoolean();
    }

    private static BlockNode openFile(ObjectNode o, BlockDriver.OpenContext ctx) throws IOException {
        boolean direct = o.has("cache") && bool((ObjectNode) o.get("cache"), "direct", false);
        String locking = o.has("locking") ? o.get("locking").asText() : "auto";
        return new FileNode(o.get("filename").asText(), ctx.readOnly(), direct, !locking.equals("off"));
    }

    private static BlockNode openRaw(ObjectNode o, BlockDriver.OpenContext ctx) throws IOException {
        BlockNode file = ctx.child(o.get("file"), "file");
        long offset = o.has("offset") ? o.get("offset").asLong() : 0;
        long size = o.has("size") ? o.get("size").asLong() : -1;
        return new RawNode(file, offset, size, ctx.readOnly());
    }

    private static BlockNode openNull(String driver, ObjectNode o, BlockDriver.OpenContext ctx) throws IOException {
        long size = o.has("size") ? o.get("size").asLong() : 1L << 30;
        if (size < 0) throw new BlockException(Errno.EINVAL, "size must be non-negative");
        long latency = o.has("latency-ns") ? o.get("latency-ns").asLong() : 0;
        if (latency < 0) throw QapiError.generic("latency-ns is invalid"); // above INT64_MAX, as QEMU says
        return new NullNode(driver, size, bool(o, "read-zeroes", false), latency, ctx.readOnly());
    }
}
