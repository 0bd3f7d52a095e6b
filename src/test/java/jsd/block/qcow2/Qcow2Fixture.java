package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockGraph;
import jsd.block.BlockNode;
import jsd.qapi.InputVisitor;
import jsd.testing.Tools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Opens qcow2 nodes in-process and runs qemu-img on the same files. */
final class Qcow2Fixture implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    static {
        Qcow2Driver.install();
    }

    final Path dir;
    final BlockGraph graph = new BlockGraph();

    Qcow2Fixture() throws IOException {
        dir = Files.createTempDirectory("jsd-qcow2-");
    }

    Path path(String name) { return dir.resolve(name); }

    /** Opens a node from BlockdevOptions written as JSON (single quotes allowed). */
    BlockNode open(String json) throws IOException {
        JsonNode v = JSON.readTree(json.replace('\'', '"'));
        return graph.add(InputVisitor.json("BlockdevOptions", v));
    }

    BlockNode openQcow2(String name, String file, String extra) throws IOException {
        return open("{'driver':'qcow2','node-name':'" + name + "','file':{'driver':'file','filename':'" + path(file) + "'}"
                + (extra.isEmpty() ? "" : "," + extra) + "}");
    }

    void close(BlockNode n) throws IOException { graph.delete(n.nodeName()); }

    Tools.Output qemuImg(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add("qemu-img");
        cmd.addAll(List.of(args));
        return Tools.run(dir, 300, cmd);
    }

    /** Runs qemu-io commands on an image file (-c each). */
    Tools.Output qemuImgIo(String file, String... commands) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String c : commands) { cmd.add("-c"); cmd.add(c); }
        cmd.add(path(file).toString());
        return Tools.run(dir, 300, cmd);
    }

    /** qemu-img check must find neither corruption nor leaks. */
    void assertClean(String file) throws IOException, InterruptedException {
        Tools.Output o = qemuImg("check", "--output=json", path(file).toString());
        assertEquals(0, o.exitCode(), "qemu-img check " + file + ":\n" + o.stdout() + o.stderr());
        JsonNode r = JSON.readTree(o.stdout());
        assertEquals(0, r.path("leaks").asInt(0), o.stdout());
        assertEquals(0, r.path("corruptions").asInt(0), o.stdout());
    }

    static byte[] readAll(BlockNode n) throws IOException {
        byte[] out = new byte[(int) n.size()];
        n.read(0, ByteBuffer.wrap(out));
        return out;
    }

    /** Asserts equal bytes, naming the first difference instead of dumping arrays. */
    static void assertSameBytes(byte[] expected, byte[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                throw new AssertionError(what + ": first difference at byte " + i + " (0x" + Integer.toHexString(i)
                        + "): expected " + expected[i] + " got " + actual[i]);
            }
        }
    }

    /** jsd's block status over the whole node, as qemu-img map's JSON fields (depth 0 = top, present). */
    static List<String> statusMap(BlockNode n) throws IOException {
        List<String> out = new ArrayList<>();
        long size = n.size();
        long pos = 0;
        String last = null;
        long start = 0;
        while (pos < size) {
            var s = n.blockStatus(pos, size - pos);
            boolean present = s.depth() > 0;
            int depth = s.depth() - 1; // where the data comes from; qemu-img map's depth for absent ranges varies
            String key = "depth=" + (present ? "" + depth : "-") + " present=" + present + " zero=" + s.isZero() + " data=" + s.isData();
            if (!key.equals(last)) {
                if (last != null) out.add(start + "+" + (pos - start) + " " + last);
                last = key;
                start = pos;
            }
            pos += s.length();
        }
        if (last != null) out.add(start + "+" + (pos - start) + " " + last);
        return out;
    }

    /** qemu-img map --output=json of a file, merged the same way. */
    List<String> qemuMap(String file) throws IOException, InterruptedException {
        Tools.Output o = qemuImg("map", "--output=json", path(file).toString()).expectOk();
        List<String> out = new ArrayList<>();
        String last = null;
        long start = 0;
        long pos = 0;
        for (JsonNode e : JSON.readTree(o.stdout())) {
            boolean present = e.get("present").asBoolean();
            String key = "depth=" + (present ? "" + e.get("depth").asInt() : "-") + " present=" + present
                    + " zero=" + e.get("zero").asBoolean() + " data=" + e.get("data").asBoolean();
            if (!key.equals(last)) {
                if (last != null) out.add(start + "+" + (pos - start) + " " + last);
                last = key;
                start = e.get("start").asLong();
            }
            pos = e.get("start").asLong() + e.get("length").asLong();
        }
        if (last != null) out.add(start + "+" + (pos - start) + " " + last);
        return out;
    }

    static ObjectNode obj() { return JSON.createObjectNode(); }

    @Override
    public void close() throws IOException {
        graph.closeAll();
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
