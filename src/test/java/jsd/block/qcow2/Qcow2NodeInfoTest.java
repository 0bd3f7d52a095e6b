package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * query-named-block-nodes for a three-image qcow2 chain (backing files
 * opened from the headers, relative names) from jsd and from
 * qemu-storage-daemon 7.2 on the same files: the fields that describe the
 * images must agree. The images differ in version, cluster size, extended
 * L2, refcount width and compression type, so each format-specific field
 * is checked against a value that is not the default everywhere.
 *
 * Differences that are fine and not compared: the names of the auto-opened
 * nodes (generated), the order of the nodes, and actual-size (how many
 * bytes the host file system allocated, which depends on what each daemon
 * wrote when it opened the images).
 *
 * Not compared here because they belong to the file driver and the node
 * listing, not to qcow2 (and are reported to their owners): the file
 * nodes' virtual-size, which QEMU rounds up to a multiple of 512 (jsd
 * reports the exact length), and backing-filename (the disabled test).
 */
class Qcow2NodeInfoTest {
    private static final List<String> NODE_FIELDS = List.of("drv", "ro", "encrypted", "backing_file_depth", "backing_file", "file");
    private static final List<String> IMAGE_FIELDS = List.of("virtual-size", "filename", "format", "cluster-size", "dirty-flag",
            "full-backing-filename", "backing-filename-format", "format-specific");

    private static Path dir;
    private static JsonNode jsd;
    private static JsonNode qsd;

    @BeforeAll
    static void queryBoth() throws Exception {
        dir = Files.createTempDirectory("jsd-qcow2-info-");
        Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "-o", "refcount_bits=8", "base.qcow2", "16M").expectOk();
        Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=16384,extended_l2=on,compression_type=zstd",
                "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2").expectOk();
        Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=32768,compat=0.10",
                "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "32M").expectOk();
        // read-only: both daemons hold the images at once (shared locks), and neither changes them
        String blockdev = "qcow2,node-name=top,read-only=on,file.driver=file,file.filename=" + dir.resolve("top.qcow2");
        try (JsdProcess j = JsdProcess.start("--blockdev", blockdev);
             JsdProcess q = JsdProcess.startReference("--blockdev", blockdev);
             QmpClient jq = j.qmp();
             QmpClient qq = q.qmp()) {
            jsd = jq.ok("query-named-block-nodes", null);
            qsd = qq.ok("query-named-block-nodes", null);
        }
    }

    @AfterAll
    static void cleanUp() throws Exception {
        try (var s = Files.walk(dir)) { s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete()); }
    }

    @Test
    void everyNodeOfTheChainIsDescribedAlike() {
        assertEquals(qsd.size(), jsd.size(), "node count\njsd: " + jsd + "\nqsd: " + qsd);
        // three qcow2 nodes and their three file nodes, matched by driver and file name
        for (JsonNode want : qsd) {
            JsonNode got = match(jsd, want);
            String where = want.get("drv").asText() + " " + want.get("file").asText();
            for (String f : NODE_FIELDS) assertEquals(want.get(f), got.get(f), where + ": " + f);
            if (want.get("drv").asText().equals("qcow2")) {
                assertImage(want.get("image"), got.get("image"), where);
            } else { // the protocol nodes under them: see the class comment for their virtual-size
                for (String f : List.of("filename", "format", "dirty-flag", "cluster-size", "format-specific")) {
                    assertEquals(want.get("image").get(f), got.get("image").get(f), where + ": image." + f);
                }
            }
        }
    }

    @Test
    void theTopNodeNestsTheWholeChain() {
        JsonNode want = byName(qsd, "top").get("image");
        JsonNode got = byName(jsd, "top").get("image");
        int depth = 0;
        while (want != null) {
            assertImage(want, got, "top, backing level " + depth);
            assertEquals(want.has("backing-image"), got.has("backing-image"), "backing-image at level " + depth);
            want = want.get("backing-image");
            got = got.get("backing-image");
            depth++;
        }
        assertEquals(3, depth);
        assertEquals(2, byName(jsd, "top").get("backing_file_depth").asInt());
    }

    @Test
    void backingFilenameIsTheNameInTheHeader() {
        JsonNode want = byName(qsd, "top").get("image");
        JsonNode got = byName(jsd, "top").get("image");
        assertEquals("mid.qcow2", want.get("backing-filename").asText());
        assertEquals(want.get("backing-filename"), got.get("backing-filename"));
        assertEquals(want.get("backing-image").get("backing-filename"), got.get("backing-image").get("backing-filename"));
    }

    private static void assertImage(JsonNode want, JsonNode got, String where) {
        for (String f : IMAGE_FIELDS) assertEquals(want.get(f), got.get(f), where + ": image." + f);
    }

    private static JsonNode match(JsonNode nodes, JsonNode like) {
        for (JsonNode n : nodes) {
            if (n.get("drv").equals(like.get("drv")) && n.get("file").equals(like.get("file"))) return n;
        }
        throw new AssertionError("no " + like.get("drv") + " node for " + like.get("file") + " in " + nodes);
    }

    private static JsonNode byName(JsonNode nodes, String name) {
        for (JsonNode n : nodes) if (n.get("node-name").asText().equals(name)) return n;
        throw new AssertionError("no node " + name + " in " + nodes);
    }
}
