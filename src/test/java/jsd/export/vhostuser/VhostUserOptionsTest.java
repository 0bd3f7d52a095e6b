package jsd.export.vhostuser;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.ScratchDir;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * block-export-add of vhost-user-blk exports against jsd and
 * qemu-storage-daemon side by side: the same options give the same
 * replies and errors (checked in qsd's order), and the same
 * query-block-exports listing; the socket goes with the export.
 */
class VhostUserOptionsTest {
    static ScratchDir work;
    static JsdProcess jsd;
    static JsdProcess qsd;

    @BeforeAll
    static void start() throws Exception {
        work = new ScratchDir("jsd-vhost-opts-");
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

    /** Options with {dir} for a folder of the daemon's own. */
    static final List<String> CASES = List.of(
            "{'id':'a','node-name':'f','addr':{'type':'inet','host':'127.0.0.1','port':'5555'},'logical-block-size':100}",
            "{'id':'a','node-name':'f','addr':{'type':'inet','host':'127.0.0.1','port':'5555'},'num-queues':0}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'},'num-queues':0,'logical-block-size':100}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'},'logical-block-size':1536}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'},'logical-block-size':4194304}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'},'logical-block-size':256}",
            "{'id':'a','node-name':'f','addr':{'type':'inet','host':'127.0.0.1','port':'5555'}}",
            "{'id':'a','node-name':'f','addr':{'type':'vsock','cid':'3','port':'4'}}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'/nonexistent/dir/x.sock'}}",
            "{'id':'a','node-name':'ro','addr':{'type':'unix','path':'{dir}/x.sock'},'writable':true,'logical-block-size':100}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'},'iothread':'nope'}",
            "{'id':'a','node-name':'nope','addr':{'type':'unix','path':'{dir}/x.sock'}}",
            "{'id':'1a','node-name':'f','addr':{'type':'unix','path':'{dir}/x.sock'}}",
            // these succeed; the next one then reuses the id
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/a.sock'},'logical-block-size':4096,'num-queues':4,'writable':true}",
            "{'id':'a','node-name':'f','addr':{'type':'unix','path':'{dir}/b.sock'}}",
            "{'id':'b','node-name':'ro','addr':{'type':'unix','path':'{dir}/b.sock'},'writethrough':true}");

    static JsonNode add(JsdProcess p, QmpClient q, String options) throws IOException {
        JsonNode args = QmpClient.json(options.replace('\'', '"').replace("{dir}", p.dir().toString()));
        ((com.fasterxml.jackson.databind.node.ObjectNode) args).put("type", "vhost-user-blk");
        return q.execute("block-export-add", args);
    }

    @Test
    void sameRepliesAsTheReference() throws Exception {
        List<String> differences = new ArrayList<>();
        try (QmpClient j = jsd.qmp(); QmpClient r = qsd.qmp()) {
            for (String c : CASES) {
                JsonNode jr = add(jsd, j, c);
                JsonNode rr = add(qsd, r, c);
                String js = jr.toString().replace(jsd.dir().toString(), "{dir}");
                String rs = rr.toString().replace(qsd.dir().toString(), "{dir}");
                if (!js.equals(rs)) differences.add(c + "\n  qsd: " + rs + "\n  jsd: " + js);
            }
            JsonNode jl = j.ok("query-block-exports", null);
            JsonNode rl = r.ok("query-block-exports", null);
            assertEquals(sorted(rl), sorted(jl));
            assertEquals(2, jl.size());
            assertTrue(Files.exists(jsd.dir().resolve("a.sock")));
            assertTrue(Files.exists(jsd.dir().resolve("b.sock")));
            for (QmpClient q : List.of(j, r)) {
                q.ok("block-export-del", Map.of("id", "a"));
                q.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
                q.ok("block-export-del", Map.of("id", "b", "mode", "hard"));
                q.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
                assertEquals(0, q.ok("query-block-exports", null).size());
            }
            assertFalse(Files.exists(jsd.dir().resolve("a.sock")));
            assertFalse(Files.exists(jsd.dir().resolve("b.sock")));
        }
        assertTrue(differences.isEmpty(), String.join("\n", differences));
    }

    @Test
    void inheritedListeningSocket() throws Exception {
        Path sock = work.resolve("fd.sock");
        Tools.Output o = Tools.run(work.path(), 120, List.of("python3",
                JsdProcess.HOME.resolve("src/test/resources/vhostuser/inherited_fd.py").toString(), sock.toString(),
                JsdProcess.HOME.resolve("jsd").toString(), "--blockdev", "file,node-name=f,filename=" + work.resolve("rw.img"),
                "--export", "vhost-user-blk,id=v,node-name=f,addr.type=fd,addr.str=3"));
        assertEquals(0, o.exitCode(), o.stdout() + o.stderr());
        assertTrue(o.stdout().contains("socket file removed True"), o.stdout());
    }

    @Test
    void badDescriptorsOnTheCommandLineLikeTheReference() throws Exception {
        for (String str : List.of("abc", "55", "-1", "0")) {
            String[] args = {"--blockdev", "file,node-name=f,filename=" + work.resolve("rw.img"),
                    "--export", "vhost-user-blk,id=v,node-name=f,addr.type=fd,addr.str=" + str};
            JsdProcess.Result q = JsdProcess.runReference(args);
            JsdProcess.Result j = JsdProcess.run(args);
            assertEquals(q.exitCode(), j.exitCode(), str);
            assertEquals(q.output().replace("qemu-storage-daemon: ", "jsd: "), j.output(), str);
        }
    }

    static List<String> sorted(JsonNode list) {
        List<String> out = new ArrayList<>();
        for (JsonNode e : list) {
            out.add(e.get("id").asText() + " " + e.get("type").asText() + " " + e.get("node-name").asText() + " "
                    + e.get("shutting-down").asBoolean());
        }
        out.sort(null);
        return out;
    }
}
