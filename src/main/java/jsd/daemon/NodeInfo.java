package jsd.daemon;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockGraph;
import jsd.block.BlockNode;

import java.io.IOException;

/** query-named-block-nodes: BlockDeviceInfo for each node. */
final class NodeInfo {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private NodeInfo() {}

    static ArrayNode list(BlockGraph graph, boolean flat) {
        ArrayNode out = F.arrayNode();
        for (BlockNode n : graph.nodes()) out.add(of(n, flat));
        return out;
    }

    static ObjectNode of(BlockNode n) { return of(n, false); }

    private static ObjectNode image(BlockNode n, boolean flat) {
        ObjectNode image = F.objectNode();
        image.put("virtual-size", size(n));
        image.put("filename", n.filename());
        image.put("format", n.driver());
        image.put("actual-size", 0);
        image.put("dirty-flag", false);
        n.describe(image);
        BlockNode backing = n.backing();
        if (backing != null) {
            // a driver that knows the name as written in the image (qcow2's header) has set it
            if (!image.has("backing-filename")) image.put("backing-filename", backing.filename());
            if (!flat) image.set("backing-image", image(backing, false));
        }
        return image;
    }

    private static ObjectNode of(BlockNode n, boolean flat) {
        ObjectNode o = F.objectNode();
        o.put("iops_rd", 0);
        o.put("detect_zeroes", "off");
        o.set("image", image(n, flat));
        o.put("iops_wr", 0);
        o.put("ro", n.isReadOnly());
        o.put("node-name", n.nodeName());
        int depth = 0;
        for (BlockNode b = n.backing(); b != null; b = b.backing()) depth++;
        o.put("backing_file_depth", depth);
        if (n.backing() != null) o.put("backing_file", n.backing().filename());
        o.put("drv", n.driver());
        o.put("iops", 0);
        o.put("bps_wr", 0);
        o.put("write_threshold", 0);
        com.fasterxml.jackson.databind.node.ArrayNode bitmaps = jsd.block.BitmapCommands.info(n);
        if (bitmaps != null) o.set("dirty-bitmaps", bitmaps);
        o.put("encrypted", false);
        o.put("bps", 0);
        o.put("bps_rd", 0);
        ObjectNode cache = o.putObject("cache");
        cache.put("no-flush", false);
        cache.put("direct", false);
        cache.put("writeback", true);
        o.put("file", n.filename());
        return o;
    }

    private static long size(BlockNode n) {
        try {
            return n.size();
        } catch (IOException e) {
            return 0;
        }
    }
}
