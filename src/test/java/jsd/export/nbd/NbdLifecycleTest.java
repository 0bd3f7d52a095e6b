package jsd.export.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.RawNbd;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NBD server's QMP lifecycle, with qemu-storage-daemon 7.2's messages:
 * start/stop, exports added and deleted safely or hard with clients
 * attached, BLOCK_EXPORT_DELETED once, id reuse, the deprecated
 * nbd-server-add/-remove, max-connections. The tests share one daemon and
 * run one at a time, each starting and stopping the server itself.
 */
class NbdLifecycleTest {
    static JsdProcess jsd;
    static QmpClient qmp;
    static Path sock;

    @BeforeAll
    static void start() throws Exception {
        Path dir = Files.createTempDirectory("jsd-nbd-life-");
        Path img = dir.resolve("x.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(4 << 20);
        }
        jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + img, "--blockdev", "raw,node-name=r,file=f");
        qmp = jsd.qmp();
        sock = jsd.dir().resolve("nbd.sock");
    }

    @AfterAll
    static void stop() throws Exception {
        qmp.close();
        jsd.close();
    }

    /** Leaves no server, export or pending event behind for the next test, whatever happened. */
    @AfterEach
    void cleanUp() throws Exception {
        qmp.execute("nbd-server-stop", null);
        while (qmp.event("BLOCK_EXPORT_DELETED", Duration.ofMillis(200)) != null) {
            // drained
        }
        assertEquals(0, qmp.ok("query-block-exports", null).size());
    }

    static Map<String, Object> unixAddr() {
        return Map.of("type", "unix", "data", Map.of("path", sock.toString()));
    }

    static String err(String cmd, Object args) throws Exception { return qmp.error(cmd, args).get("desc").asText(); }

    static Map<String, Object> nbdExport(String id, String node, Object... more) {
        Map<String, Object> m = new java.util.HashMap<>(Map.of("type", "nbd", "id", id, "node-name", node));
        for (int i = 0; i < more.length; i += 2) m.put((String) more[i], more[i + 1]);
        return m;
    }

    static void startServer(Object... more) throws Exception {
        Map<String, Object> a = new java.util.HashMap<>(Map.of("addr", unixAddr()));
        for (int i = 0; i < more.length; i += 2) a.put((String) more[i], more[i + 1]);
        qmp.ok("nbd-server-start", a);
    }

    static RawNbd attach(String name) throws Exception {
        RawNbd c = RawNbd.connect(sock).start();
        c.go(name);
        return c;
    }

    static void awaitEvent(String id) {
        JsonNode ev = qmp.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        assertNotNull(ev, "no BLOCK_EXPORT_DELETED for " + id);
        assertEquals(id, ev.get("data").get("id").asText());
    }

    @Test
    void serverStartStopAndExportErrors() throws Exception {
        assertEquals("NBD server not running", err("nbd-server-stop", null));
        assertEquals("NBD server not running", err("block-export-add", nbdExport("e", "r")));
        assertEquals("NBD server not running", err("nbd-server-add", Map.of("device", "r")));
        assertEquals("No TLS credentials with id 'nope'",
                err("nbd-server-start", Map.of("addr", unixAddr(), "tls-creds", "nope")));
        startServer();
        assertEquals("NBD server already running", err("nbd-server-start", Map.of("addr", unixAddr())));
        qmp.ok("block-export-add", nbdExport("e", "r"));
        assertEquals("Block export id 'e' is already in use", err("block-export-add", nbdExport("e", "r")));
        assertEquals("NBD server already has export named 'r'", err("block-export-add", nbdExport("e2", "r")));
        String longName = "n".repeat(5000);
        assertEquals("export name '" + longName + "' too long", err("block-export-add", nbdExport("e2", "r", "name", longName)));
        String longDesc = "d".repeat(4097);
        assertEquals("description '" + longDesc + "' too long",
                err("block-export-add", nbdExport("e2", "r", "name", "x", "description", longDesc)));
        qmp.ok("block-export-add", nbdExport("e2", "f", "name", "", "description", "d".repeat(4096)));
        JsonNode q = qmp.ok("query-block-exports", null);
        assertEquals("[{\"id\":\"e2\",\"type\":\"nbd\",\"node-name\":\"f\",\"shutting-down\":false},"
                + "{\"id\":\"e\",\"type\":\"nbd\",\"node-name\":\"r\",\"shutting-down\":false}]", q.toString());
        String list = Tools.run(null, "nbdinfo", "--list", "--json", "nbd+unix://?socket=" + sock).expectOk().stdout();
        assertTrue(list.contains("\"export-name\": \"r\"") && list.contains("\"export-name\": \"\""), list);
        // stop removes every export (each reported) and the listener
        qmp.ok("nbd-server-stop", null);
        java.util.Set<String> gone = new java.util.HashSet<>();
        for (int i = 0; i < 2; i++) gone.add(qmp.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(5)).get("data").get("id").asText());
        assertEquals(java.util.Set.of("e", "e2"), gone);
        assertEquals(0, qmp.ok("query-block-exports", null).size());
        assertFalse(Files.exists(sock));
        assertEquals("NBD server not running", err("nbd-server-stop", null));
    }

    /**
     * A hard delete drops the connection at once, but the export is only
     * gone when the request still running on its node has finished: until
     * then query-block-exports shows it shutting down.
     */
    @Test
    void shuttingDownUntilInFlightRequestsFinish() throws Exception {
        qmp.ok("blockdev-add", Map.of("driver", "null-co", "node-name", "slow", "size", 1 << 20,
                "latency-ns", 2_000_000_000L));
        startServer();
        try {
            qmp.ok("block-export-add", nbdExport("s", "slow"));
            RawNbd client = attach("slow");
            client.request(0, 0, 1, 0, 512); // a READ that takes two seconds on this node
            Thread.sleep(200);
            qmp.ok("block-export-del", Map.of("id", "s", "mode", "hard"));
            JsonNode during = qmp.ok("query-block-exports", null);
            assertEquals(1, during.size(), during::toString);
            assertTrue(during.get(0).get("shutting-down").asBoolean(), during::toString);
            assertEquals("Export 's' is already shutting down", err("block-export-del", Map.of("id", "s")));
            awaitEvent("s");
            assertEquals(0, qmp.ok("query-block-exports", null).size());
            qmp.ok("block-export-add", nbdExport("s", "slow")); // the id is free again
            client.close();
        } finally {
            qmp.execute("nbd-server-stop", null);
            while (qmp.event("BLOCK_EXPORT_DELETED", Duration.ofMillis(500)) != null) {
                // drained
            }
            qmp.ok("blockdev-del", Map.of("node-name", "slow"));
        }
    }

    @Test
    void safeAndHardDeleteWithClientsAttached() throws Exception {
        startServer();
        try {
            qmp.ok("block-export-add", nbdExport("e", "r", "name", "disk", "writable", true));
            RawNbd client = attach("disk");
            RawNbd idle = RawNbd.connect(sock).start(); // still negotiating: not attached
            assertEquals("export 'e' still in use", err("block-export-del", Map.of("id", "e")));
            assertEquals("export 'e' still in use", err("block-export-del", Map.of("id", "e", "mode", "safe")));
            assertFalse(qmp.ok("query-block-exports", null).get(0).get("shutting-down").asBoolean());
            // the client still works after a refused delete
            client.request(0, 0, 1, 0, 512);
            assertEquals(0, client.simpleReply()[0]);
            qmp.ok("block-export-del", Map.of("id", "e", "mode", "hard"));
            awaitEvent("e");
            assertTrue(client.closedByServer(Duration.ofSeconds(5)), "hard delete must drop the client");
            assertEquals(0, qmp.ok("query-block-exports", null).size());
            assertNull(qmp.event("BLOCK_EXPORT_DELETED", Duration.ofMillis(300)), "the event comes once");
            assertEquals("Export 'e' is not found", err("block-export-del", Map.of("id", "e")));
            // the id (and name) can be used again at once; the idle client selects the new export
            qmp.ok("block-export-add", nbdExport("e", "r", "name", "disk"));
            idle.go("disk");
            idle.request(0, 0, 2, 0, 512);
            assertEquals(2, idle.simpleReply()[1]);
            idle.request(0, 2, 3, 0, 0); // NBD_CMD_DISC
            assertTrue(idle.closedByServer(Duration.ofSeconds(5)));
            // with no client left, a safe delete succeeds at once
            qmp.ok("block-export-del", Map.of("id", "e"));
            awaitEvent("e");
            client.close();
            idle.close();
        } finally {
            qmp.execute("nbd-server-stop", null);
        }
    }

    @Test
    void deprecatedAddAndRemove() throws Exception {
        assertEquals("Export 'x' is not found", err("nbd-server-remove", Map.of("name", "x")));
        startServer();
        try {
            qmp.ok("nbd-server-add", Map.of("device", "r"));
            assertEquals("Block export id 'r' is already in use", err("nbd-server-add", Map.of("device", "r")));
            assertEquals("NBD server already has export named 'r'", err("block-export-add", nbdExport("x", "f", "name", "r")));
            qmp.ok("nbd-server-add", Map.of("device", "f", "name", "fe", "writable", true, "description", "legacy"));
            JsonNode q = qmp.ok("query-block-exports", null);
            assertEquals("fe", q.get(0).get("id").asText());
            assertEquals("r", q.get(1).get("id").asText());
            String info = Tools.run(null, "nbdinfo", "--json", "nbd+unix:///fe?socket=" + sock).expectOk().stdout();
            assertTrue(info.contains("\"is_read_only\": false") && info.contains("\"description\": \"legacy\""), info);
            RawNbd c = attach("fe");
            assertEquals("export 'fe' still in use", err("nbd-server-remove", Map.of("name", "fe")));
            qmp.ok("nbd-server-remove", Map.of("name", "fe", "mode", "hard"));
            awaitEvent("fe");
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
            c.close();
            qmp.ok("nbd-server-remove", Map.of("name", "r"));
            awaitEvent("r");
            assertEquals("Export 'r' is not found", err("nbd-server-remove", Map.of("name", "r")));
        } finally {
            qmp.execute("nbd-server-stop", null);
        }
    }

    @Test
    void stopDropsAttachedClients() throws Exception {
        startServer();
        qmp.ok("block-export-add", nbdExport("e", "r"));
        RawNbd c = attach("r");
        qmp.ok("nbd-server-stop", null);
        awaitEvent("e");
        assertEquals(0, qmp.ok("query-block-exports", null).size());
        assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        c.close();
        // and the server starts again on the same address
        startServer();
        qmp.ok("nbd-server-stop", null);
    }

    @Test
    void maxConnectionsOne() throws Exception {
        startServer("max-connections", 1);
        try {
            qmp.ok("block-export-add", nbdExport("e", "r"));
            String info = Tools.run(null, "nbdinfo", "--json", "nbd+unix:///r?socket=" + sock).expectOk().stdout();
            assertTrue(info.contains("\"can_multi_conn\": false"), info);
            RawNbd first = attach("r");
            RawNbd second = RawNbd.connect(sock);
            second.ch.configureBlocking(false);
            Thread.sleep(500);
            assertEquals(0, second.ch.read(java.nio.ByteBuffer.allocate(18)), "a second client waits for a free slot");
            second.ch.configureBlocking(true);
            first.close();
            assertEquals(3, second.greeting());
            second.close();
            qmp.ok("block-export-del", Map.of("id", "e"));
            awaitEvent("e");
        } finally {
            qmp.execute("nbd-server-stop", null);
        }
    }

    @Test
    void inetIpv6WithBrackets() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
            port = s.getLocalPort();
        }
        qmp.ok("nbd-server-start", Map.of("addr", Map.of("type", "inet", "data", Map.of("host", "[::1]", "port", String.valueOf(port)))));
        try {
            qmp.ok("block-export-add", nbdExport("e", "r", "name", "six"));
            String out = Tools.run(null, "nbdinfo", "--size", "nbd://[::1]:" + port + "/six").expectOk().stdout();
            assertEquals("4194304", out.trim());
        } finally {
            qmp.execute("nbd-server-stop", null);
        }
    }
}
