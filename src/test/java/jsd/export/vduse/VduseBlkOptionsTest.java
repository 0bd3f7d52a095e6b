package jsd.export.vduse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.ScratchDir;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * block-export-add of vduse-blk exports on the host, against jsd and
 * qemu-storage-daemon side by side: option errors are the same, in the
 * same order. Creating the device itself needs a kernel with VDUSE
 * (VduseBlkGuestTest has one); on a host without /dev/vduse/control both
 * daemons fail, jsd with the reason added, and nothing is left behind.
 */
class VduseBlkOptionsTest {
    static ScratchDir work;
    static JsdProcess jsd;
    static JsdProcess qsd;
    static final boolean HOST_HAS_VDUSE = Files.exists(Path.of("/dev/vduse/control"));

    @BeforeAll
    static void start() throws Exception {
        work = new ScratchDir("jsd-vduse-opts-");
        String[] args = {"--blockdev", "file,node-name=f,filename=" + work.image("rw.img", 1 << 20),
                "--blockdev", "file,node-name=ro,read-only=on,filename=" + work.image("ro.img", 1 << 20)};
        jsd = JsdProcess.start(args);
        qsd = JsdProcess.startReference(args);
    }

    @AfterAll
    static void stop() throws IOException {
        if (jsd != null) jsd.close();
        if (qsd != null) qsd.close();
        if (work != null) work.close();
    }

    /** Each fails before a device is created (the name is free to use on a host with VDUSE too). */
    static final List<String> CASES = List.of(
            "{'id':'a','node-name':'f','name':'jsdtest0','num-queues':0}",
            "{'id':'a','node-name':'f','name':'jsdtest0','num-queues':0,'queue-size':3}",
            "{'id':'a','node-name':'f','name':'jsdtest0','queue-size':2}",
            "{'id':'a','node-name':'f','name':'jsdtest0','queue-size':100}",
            "{'id':'a','node-name':'f','name':'jsdtest0','queue-size':2048}",
            "{'id':'a','node-name':'f','name':'jsdtest0','queue-size':100,'logical-block-size':100}",
            "{'id':'a','node-name':'f','name':'jsdtest0','logical-block-size':100}",
            "{'id':'a','node-name':'f','name':'jsdtest0','logical-block-size':1536}",
            "{'id':'a','node-name':'f','name':'jsdtest0','logical-block-size':4194304}",
            "{'id':'a','node-name':'f','name':'jsdtest0','iothread':'nope'}",
            "{'id':'a','node-name':'nope','name':'jsdtest0'}",
            "{'id':'1a','node-name':'f','name':'jsdtest0'}",
            "{'id':'a','node-name':'ro','name':'jsdtest0','writable':true}",
            "{'id':'a','node-name':'f'}");

    static JsonNode add(QmpClient q, String options) throws IOException {
        JsonNode args = QmpClient.json(options.replace('\'', '"'));
        ((ObjectNode) args).put("type", "vduse-blk");
        return q.execute("block-export-add", args);
    }

    @Test
    void optionErrorsLikeTheReference() throws Exception {
        List<String> differences = new ArrayList<>();
        try (QmpClient j = jsd.qmp(); QmpClient r = qsd.qmp()) {
            for (String c : CASES) {
                String js = add(j, c).toString();
                String rs = add(r, c).toString();
                if (!js.equals(rs)) differences.add(c + "\n  qsd: " + rs + "\n  jsd: " + js);
            }
            assertEquals(0, j.ok("query-block-exports", null).size());
        }
        assertTrue(differences.isEmpty(), String.join("\n", differences));
    }

    @Test
    void deviceCreationWithoutVduseFailsCleanly() throws Exception {
        String c = "{'id':'v','node-name':'f','name':'jsdtest1','writable':true,'num-queues':2}";
        try (QmpClient j = jsd.qmp(); QmpClient r = qsd.qmp()) {
            if (HOST_HAS_VDUSE) {
                // a host with VDUSE: the device is created, listed and destroyed with the export
                assertTrue(add(j, c).has("return"), "block-export-add on a host with VDUSE");
                JsonNode l = j.ok("query-block-exports", null);
                assertEquals("vduse-blk", l.get(0).get("type").asText());
                assertTrue(Files.exists(Path.of("/dev/vduse/jsdtest1")));
                j.ok("block-export-del", Map.of("id", "v"));
                j.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
                assertTrue(!Files.exists(Path.of("/dev/vduse/jsdtest1")));
                return;
            }
            JsonNode je = add(j, c);
            JsonNode re = add(r, c);
            assertEquals("GenericError", je.get("error").get("class").asText(), je.toString());
            String qsdDesc = re.get("error").get("desc").asText();
            String jsdDesc = je.get("error").get("desc").asText();
            assertEquals("failed to create vduse device", qsdDesc);
            assertEquals("failed to create vduse device: /dev/vduse/control: No such file or directory"
                    + " (the kernel has no VDUSE: it needs CONFIG_VDPA_USER, module vduse)", jsdDesc);
            // nothing left behind: no export, the node is free again, the daemon still answers
            assertEquals(0, j.ok("query-block-exports", null).size());
            j.ok("blockdev-del", Map.of("node-name", "f"));
            j.ok("query-named-block-nodes", null);
        }
    }
}
