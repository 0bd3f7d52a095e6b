package jsd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line against qemu-storage-daemon's: the same bad options get the same message and exit status. */
class CommandLineTest {
    /** Each case: the arguments. jsd must print qsd's message with "jsd:" for "qemu-storage-daemon:". */
    static final List<List<String>> SAME_AS_REFERENCE = List.of(
            List.of("--bogus"), List.of("-x"), List.of("extra"), List.of("--blockdev"), List.of("--pidfile"),
            List.of("--blockdev", "driver=null-co,node-name=n,size=1x"),
            List.of("--blockdev", "driver=null-co,node-name=n,size=99999999999999999999"),
            List.of("--blockdev", "driver=null-co,node-name=n,latency-ns=x"),
            List.of("--blockdev", "driver=null-co,node-name=n,read-zeroes=maybe"),
            List.of("--blockdev", "driver=null-co,node-name=n,bogus=1"),
            List.of("--blockdev", "driver=nope,node-name=n"),
            List.of("--blockdev", "node-name=n"),
            List.of("--blockdev", "driver=null-co"),
            List.of("--blockdev", "driver=null-co,node-name=n,,x=1"),
            List.of("--blockdev", "driver=null-co,node-name=n,=1"),
            List.of("--blockdev", "driver=null-co,node-name=n,size=1,size=2,bad.key=1"),
            List.of("--blockdev", "driver=null-co,node-name=n,cache.direct=on,cache=x"),
            List.of("--blockdev", "driver=null-co,node-name=n,cache=x,cache.direct=on"),
            List.of("--blockdev", "driver=null-co,node-name=n,size=1.5k"),
            List.of("--blockdev", "driver=raw,node-name=r,file.driver=null-co,file.size=1k,offset=513"),
            List.of("--blockdev", "driver=file,node-name=n,filename=/nonexistent/img"),
            List.of("--blockdev", "{\"driver\":\"null-co\",\"node-name\":\"n\",\"size\":\"x\"}"),
            List.of("--blockdev", "{\"driver\":"),
            List.of("--blockdev", "{\"driver\":\"null-co\"}{}"),
            List.of("--blockdev", "{bad}"),
            List.of("--blockdev", "driver=null-co,node-name=n", "--blockdev", "driver=null-co,node-name=n"),
            List.of("--export", "type=bogus,id=e,node-name=n"),
            List.of("--export", "nbd,id=e,node-name=n"),
            List.of("--export", "type=fuse,id=e,node-name=nx,mountpoint=x"),
            List.of("--export", "type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=x,num-queues=70000"),
            List.of("--nbd-server", "addr.type=inet,addr.host=localhost"),
            List.of("--nbd-server", "addr.type=bogus"),
            List.of("--nbd-server", "addr.type=inet,addr.host=localhost,addr.port=10809,max-connections=-1"),
            List.of("--chardev", "stdio"),
            List.of("--chardev", "bogus,id=c"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off,bogus=1"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off,server=maybe"),
            List.of("--chardev", "socket,id=c,host=localhost,server=on,wait=off"),
            List.of("--chardev", "socket,id=c,path=/nonexistent/x,server=on,wait=off"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off", "--chardev", "socket,id=c,path=y,server=on,wait=off"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off", "--monitor", "chardev=c,mode=readline"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off", "--monitor", "chardev=c,pretty=x"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off", "--monitor", "chardev=c,bogus=1"),
            List.of("--chardev", "socket,id=c,path=x,server=on,wait=off", "--monitor", "chardev=c", "--monitor", "chardev=c"),
            List.of("--monitor", "chardev=nope"), List.of("--monitor", "nope"),
            List.of("--object", "bogus,id=x"), List.of("--object", "iothread"),
            List.of("--object", "iothread,id=io,poll-max-ns=x"),
            List.of("--object", "iothread,id=i", "--object", "iothread,id=i"),
            List.of("--pidfile", "/nonexistent/x"),
            // a size with a suffix passes the schema check (then the export type fails in both)
            List.of("--export", "type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=x,logical-block-size=4k"),
            List.of("--export", "type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=x,logical-block-size=4x"),
            List.of("--daemonize", "--blockdev", "bad"));

    @Test
    void badOptionsAnswerLikeTheReference() throws Exception {
        List<String> failures = new ArrayList<>();
        for (List<String> args : SAME_AS_REFERENCE) {
            JsdProcess.Result q = JsdProcess.runReference(args.toArray(String[]::new));
            JsdProcess.Result j = JsdProcess.run(args.toArray(String[]::new));
            String expected = q.output().replace("qemu-storage-daemon: ", "jsd: ");
            if (q.exitCode() != j.exitCode() || !expected.equals(j.output())) {
                failures.add(args + "\n  qsd (" + q.exitCode() + "): " + q.output() + "  jsd (" + j.exitCode() + "): " + j.output());
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void identifierHintIsPrinted() throws Exception {
        JsdProcess.Result j = JsdProcess.run("--object", "iothread,id=1x");
        assertEquals(1, j.exitCode());
        assertEquals(JsdProcess.runReference("--object", "iothread,id=1x").output().replace("qemu-storage-daemon: ", "jsd: "), j.output());
    }

    @Test
    void helpAndVersion() throws Exception {
        JsdProcess.Result h = JsdProcess.run("--help");
        assertEquals(0, h.exitCode());
        for (String opt : List.of("--blockdev", "--chardev", "--export", "--monitor", "--nbd-server", "--object", "--pidfile", "--daemonize")) {
            assertTrue(h.output().contains(opt), opt);
        }
        JsdProcess.Result v = JsdProcess.run("-V");
        assertEquals(0, v.exitCode());
        assertTrue(v.output().startsWith("jsd version "));
    }

    /** The reference's first example, and keyval and JSON forms of the same options, all taking effect in order. */
    @Test
    void keyvalAndJsonForms() throws Exception {
        try (JsdProcess p = JsdProcess.start(
                "--blockdev", "null-co,node-name=implied,size=1048576,read-zeroes=on",
                "--blockdev", "driver=raw,node-name=dotted,file.driver=null-co,file.size=65536,file.read-zeroes=true,read-only=yes",
                "--blockdev", "{\"driver\": \"null-co\", \"node-name\": \"json\", \"size\": 4096}",
                "--blockdev", "driver=null-co,node-name=hex,size=0x2000",
                "--object", "iothread,id=io0",
                "--chardev", "socket,path=qmp2.sock,server=on,wait=off,id=char1",
                "--monitor", "chardev=char1");
             QmpClient c = p.qmp()) {
            p.awaitSocket(p.dir().resolve("qmp2.sock"));
            JsonNode nodes = c.ok("query-named-block-nodes", null);
            java.util.Map<String, JsonNode> byName = new java.util.HashMap<>();
            for (JsonNode n : nodes) byName.put(n.get("node-name").asText(), n);
            assertEquals(1 << 20, byName.get("implied").get("image").get("virtual-size").asLong());
            assertEquals(65536, byName.get("dotted").get("image").get("virtual-size").asLong());
            assertTrue(byName.get("dotted").get("ro").asBoolean());
            assertEquals(4096, byName.get("json").get("image").get("virtual-size").asLong());
            assertEquals(0x2000, byName.get("hex").get("image").get("virtual-size").asLong());
            try (QmpClient second = QmpClient.connect(p.dir().resolve("qmp2.sock"))) {
                assertEquals(nodes.size(), second.ok("query-named-block-nodes", null).size());
            }
        }
    }

    @Test
    void commaEscapeInFileName() throws Exception {
        try (JsdProcess p = JsdProcess.start()) {
            java.nio.file.Files.write(p.dir().resolve("a,b.img"), new byte[4096]);
            try (JsdProcess q = JsdProcess.start("--blockdev", "driver=file,node-name=f,filename=" + p.dir().resolve("a,,b.img"));
                 QmpClient c = q.qmp()) {
                JsonNode n = c.ok("query-named-block-nodes", null).get(0);
                assertEquals(p.dir().resolve("a,b.img").toString(), n.get("file").asText());
            }
        }
    }
}
