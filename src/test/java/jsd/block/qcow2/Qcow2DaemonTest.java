package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** qcow2 nodes in the real daemon: --blockdev with an auto-opened backing chain, blockdev-add, errors. */
class Qcow2DaemonTest {
    @Test
    void commandLineAndBlockdevAdd() throws Exception {
        Path dir = Files.createTempDirectory("jsd-qcow2-daemon-");
        try {
            Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "base.qcow2", "16M").expectOk();
            Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.qcow2", "-F", "qcow2",
                    "top.qcow2").expectOk();
            // an encrypted image, as far as jsd can tell: crypt_method 2 (LUKS) in the header (qemu-img's LUKS
            // key setup times itself and fails on a loaded machine, and jsd refuses on this field alone)
            Tools.run(dir, "qemu-img", "create", "-f", "qcow2", "enc.qcow2", "1M").expectOk();
            try (var ch = java.nio.channels.FileChannel.open(dir.resolve("enc.qcow2"), java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.allocate(4).putInt(0, 2), 32);
            }
            try (JsdProcess jsd = JsdProcess.start("--blockdev",
                    "qcow2,node-name=top,file.driver=file,file.filename=" + dir.resolve("top.qcow2"));
                 QmpClient qmp = connect(jsd)) {
                JsonNode nodes = qmp.ok("query-named-block-nodes", null);
                JsonNode top = find(nodes, "top");
                assertEquals("qcow2", top.get("drv").asText());
                assertEquals(1, top.get("backing_file_depth").asInt());
                JsonNode image = top.get("image");
                assertEquals(16 << 20, image.get("virtual-size").asLong());
                assertEquals(4096, image.get("cluster-size").asInt());
                assertEquals("qcow2", image.get("format-specific").get("type").asText());
                assertEquals("1.1", image.get("format-specific").get("data").get("compat").asText());
                assertEquals("qcow2", image.get("backing-filename-format").asText());
                assertEquals(65536, image.get("backing-image").get("cluster-size").asInt());

                qmp.ok("blockdev-add", Map.of("driver", "qcow2", "node-name", "alone", "backing", QmpClient.json("null"),
                        "read-only", true,
                        "file", Map.of("driver", "file", "filename", dir.resolve("top.qcow2").toString())));
                assertEquals(0, find(qmp.ok("query-named-block-nodes", null), "alone").get("backing_file_depth").asInt());
                JsonNode err = qmp.error("blockdev-add", Map.of("driver", "qcow2", "node-name", "enc",
                        "file", Map.of("driver", "file", "filename", dir.resolve("enc.qcow2").toString())));
                assertTrue(err.get("desc").asText().contains("encryption"), err.toString());
                qmp.ok("blockdev-del", Map.of("node-name", "alone"));
            }
            // the daemon closed the image cleanly (it was opened read-write)
            Tools.run(dir, "qemu-img", "check", "top.qcow2").expectOk();
        } finally {
            try (var s = Files.walk(dir)) { s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete()); }
        }
    }

    private static QmpClient connect(JsdProcess jsd) throws Exception {
        try {
            return jsd.qmp();
        } catch (java.io.IOException e) {
            jsd.process().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            throw new AssertionError("cannot reach the daemon's monitor (alive: " + jsd.process().isAlive()
                    + "); its output:\n" + jsd.output(), e);
        }
    }

    private static JsonNode find(JsonNode nodes, String name) {
        for (JsonNode n : nodes) if (n.get("node-name").asText().equals(name)) return n;
        throw new AssertionError("no node " + name + " in " + nodes);
    }
}
