package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** blockdev-add / blockdev-del / query-named-block-nodes for file, raw and null-co, on the real daemon. */
class BlockdevTest {
    static JsdProcess jsd;
    static QmpClient qmp;
    static Path image;

    @BeforeAll
    static void start() throws Exception {
        jsd = JsdProcess.start();
        qmp = jsd.qmp();
        image = jsd.dir().resolve("disk.img");
        Tools.run(jsd.dir(), "qemu-img", "create", "-f", "raw", image.toString(), "1M").expectOk();
    }

    @AfterAll
    static void stop() throws Exception {
        qmp.close();
        jsd.close();
    }

    static Map<String, JsonNode> nodes() throws Exception {
        Map<String, JsonNode> out = new HashMap<>();
        for (JsonNode n : qmp.ok("query-named-block-nodes", null)) out.put(n.get("node-name").asText(), n);
        return out;
    }

    static JsonNode add(String json) throws Exception { return qmp.execute("blockdev-add", QmpClient.json(json)); }

    static void del(String name) throws Exception { qmp.ok("blockdev-del", Map.of("node-name", name)); }

    @Test
    void fileWithItsOptions() throws Exception {
        assertTrue(add("{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"" + image + "\", \"cache\": {\"direct\": true, \"no-flush\": false}, \"aio\": \"native\", \"aio-max-batch\": 4}").has("return"));
        JsonNode f = nodes().get("f");
        assertEquals("file", f.get("drv").asText());
        assertEquals(image.toString(), f.get("file").asText());
        assertEquals(1 << 20, f.get("image").get("virtual-size").asLong());
        assertFalse(f.get("ro").asBoolean());
        del("f");
        for (String aio : new String[] {"threads", "io_uring"}) {
            assertTrue(add("{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"" + image + "\", \"aio\": \"" + aio + "\"}").has("return"));
            del("f");
        }
        assertFalse(nodes().containsKey("f"));
    }

    @Test
    void readOnlyFileAndRawOverIt() throws Exception {
        assertTrue(add("{\"driver\": \"file\", \"node-name\": \"rof\", \"filename\": \"" + image + "\", \"read-only\": true}").has("return"));
        assertTrue(add("{\"driver\": \"raw\", \"node-name\": \"ror\", \"file\": \"rof\", \"read-only\": true}").has("return"));
        assertTrue(nodes().get("rof").get("ro").asBoolean());
        assertTrue(nodes().get("ror").get("ro").asBoolean());
        // the file node is in use by the raw node
        JsonNode busy = qmp.error("blockdev-del", Map.of("node-name", "rof"));
        assertEquals("Block device rof is in use", busy.get("desc").asText()); // qsd's words (see QmpComparisonTest)
        del("ror");
        del("rof");
    }

    @Test
    void rawWindowAndInlineChild() throws Exception {
        assertTrue(add("{\"driver\": \"raw\", \"node-name\": \"win\", \"offset\": 4096, \"size\": 8192, \"file\": {\"driver\": \"file\", \"filename\": \"" + image + "\", \"locking\": \"off\"}}").has("return"));
        Map<String, JsonNode> all = nodes();
        assertEquals(8192, all.get("win").get("image").get("virtual-size").asLong());
        assertEquals("raw", all.get("win").get("drv").asText());
        // the inline file node exists under an automatic name and goes away with its parent
        long implicit = all.values().stream().filter(n -> n.get("node-name").asText().startsWith("#block")).count();
        assertEquals(1, implicit);
        del("win");
        assertTrue(nodes().keySet().stream().noneMatch(n -> n.startsWith("#block")));
    }

    @Test
    void nullCoSizesAndReadZeroes() throws Exception {
        assertTrue(add("{\"driver\": \"null-co\", \"node-name\": \"nul\"}").has("return"));
        assertTrue(add("{\"driver\": \"null-co\", \"node-name\": \"nul2\", \"size\": 65536, \"read-zeroes\": true}").has("return"));
        assertTrue(add("{\"driver\": \"null-aio\", \"node-name\": \"nul3\", \"size\": 0}").has("return"));
        Map<String, JsonNode> all = nodes();
        assertEquals(1L << 30, all.get("nul").get("image").get("virtual-size").asLong());
        assertEquals(65536, all.get("nul2").get("image").get("virtual-size").asLong());
        assertEquals("null-aio", all.get("nul3").get("drv").asText());
        assertEquals("Duplicate nodes with node-name='nul'",
                qmp.error("blockdev-add", QmpClient.json("{\"driver\": \"null-co\", \"node-name\": \"nul\"}")).get("desc").asText());
        del("nul");
        del("nul2");
        del("nul3");
    }

    /**
     * jsd takes QEMU's image locks when it opens a file node (QEMU takes them
     * only once a user of the node asks for permissions). A writable node
     * shares writing, as qemu-storage-daemon's raw exports do (several
     * servers may serve one image), but refuses resizing to other processes;
     * with locking=off it takes no lock at all.
     */
    @Test
    void lockingAgainstQemuTools() throws Exception {
        Path lockImage = jsd.dir().resolve("lock.img"); // its own image: this test resizes it
        Tools.run(jsd.dir(), "qemu-img", "create", "-f", "raw", lockImage.toString(), "1M").expectOk();
        assertTrue(add("{\"driver\": \"file\", \"node-name\": \"locked\", \"filename\": \"" + lockImage + "\"}").has("return"));
        Tools.Output resize = Tools.run(jsd.dir(), "qemu-img", "resize", "-f", "raw", lockImage.toString(), "+1M");
        assertNotEquals(0, resize.exitCode(), resize.toString());
        assertTrue((resize.stdout() + resize.stderr()).contains("Failed to get \"resize\" lock"), resize.toString());
        Tools.run(jsd.dir(), "qemu-io", "-f", "raw", "-c", "write 0 512", lockImage.toString()).expectOk();
        del("locked");
        assertTrue(add("{\"driver\": \"file\", \"node-name\": \"unlocked\", \"filename\": \"" + lockImage + "\", \"locking\": \"off\"}").has("return"));
        Tools.run(jsd.dir(), "qemu-img", "resize", "-f", "raw", lockImage.toString(), "+1M").expectOk();
        del("unlocked");
    }
}
