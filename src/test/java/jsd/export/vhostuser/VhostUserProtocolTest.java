package jsd.export.vhostuser;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vhost-user back-end without a guest: a front-end written in Python
 * (src/test/resources/vhostuser/frontend.py) shares a memfd as guest
 * memory, sets up a virtqueue and sends good and bad virtio-blk requests,
 * then malformed vhost-user messages, each on its own connection. Every
 * bad request gets IOERR/UNSUPP, a broken ring stops only that queue,
 * every bad message closes only its connection; the daemon keeps its
 * thread and descriptor counts, and the export's lifecycle (query, delete,
 * event, socket file) is checked at the end.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class VhostUserProtocolTest {
    static final long SIZE = 1 << 20;
    static final Path FRONTEND = JsdProcess.HOME.resolve("src/test/resources/vhostuser/frontend.py");
    static Path work;
    static Path image;
    static Path sock;
    static JsdProcess jsd;

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-vhost-proto-");
        image = work.resolve("disk.img");
        try (var f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(SIZE);
        }
        sock = work.resolve("vu.sock");
        jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + image,
                "--export", "vhost-user-blk,id=v,node-name=f,addr.type=unix,addr.path=" + sock + ",writable=on,num-queues=2");
        jsd.awaitSocket(sock);
    }

    @AfterAll
    static void stop() throws IOException {
        if (jsd != null) jsd.close();
        Files.deleteIfExists(image);
        Files.deleteIfExists(sock);
        Files.deleteIfExists(work);
    }

    static Tools.Output frontend(String mode) throws Exception {
        Tools.Output o = Tools.run(work, 120, List.of("python3", FRONTEND.toString(), sock.toString(), Long.toString(SIZE), mode));
        System.out.println(o.stdout());
        assertEquals(0, o.exitCode(), "frontend " + mode + " failed:\n" + o.stdout() + o.stderr() + "\ndaemon:\n" + jsd.output());
        assertFalse(o.stdout().contains("FAIL"), o.stdout());
        return o;
    }

    static int count(String what) throws IOException {
        if (what.equals("fd")) {
            try (var s = Files.list(Path.of("/proc/" + jsd.pid() + "/fd"))) {
                return (int) s.count();
            }
        }
        try (var s = Files.list(Path.of("/proc/" + jsd.pid() + "/task"))) {
            return (int) s.count();
        }
    }

    @Test
    @Order(1)
    void requestsGoodAndBad() throws Exception {
        Tools.Output o = frontend("data");
        assertTrue(o.stdout().contains("ok IN returns what OUT wrote"), o.stdout());
        assertTrue(o.stdout().contains("ok descriptor loop"), o.stdout());
        // what the front-end left on the disk: sectors 16..23 zeroed, 24..31 its pattern
        byte[] disk = Files.readAllBytes(image);
        for (int i = 0; i < 4096; i++) assertEquals(0, disk[16 * 512 + i], "zeroed byte " + i);
        for (int i = 4096; i < 8192; i++) assertEquals((byte) ((i * 7 + 3) & 0xff), disk[16 * 512 + i], "pattern byte " + i);
        assertTrue(jsd.output().contains("descriptor chain from head 0 loops; queue stopped"), jsd.output());
    }

    @Test
    @Order(2)
    void malformedMessagesCloseOnlyTheirConnection() throws Exception {
        frontend("hostile"); // warms up every code path once
        int threads = count("task");
        int fds = count("fd");
        Tools.Output o = frontend("hostile");
        assertTrue(o.stdout().contains("ok a new front-end is served after all that"), o.stdout());
        assertTrue(jsd.process().isAlive());
        // let the last session's threads finish
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while ((count("task") > threads || count("fd") > fds) && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(threads, count("task"), "threads after a second hostile round");
        assertEquals(fds, count("fd"), "descriptors after a second hostile round");
        String log = jsd.output();
        assertTrue(log.contains("unsupported request 999; connection closed"), log);
        assertTrue(log.contains("memory region 0 reaches past the end of its file"), log);
    }

    @Test
    @Order(3)
    void queryAndDelete() throws Exception {
        try (QmpClient q = jsd.qmp()) {
            JsonNode list = q.ok("query-block-exports", null);
            assertEquals(1, list.size());
            assertEquals("vhost-user-blk", list.get(0).get("type").asText());
            assertEquals("v", list.get(0).get("id").asText());
            assertEquals("f", list.get(0).get("node-name").asText());
            assertEquals(false, list.get(0).get("shutting-down").asBoolean());
            // a connected front-end does not keep a safe delete from going through (as in qsd)
            try (var c = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(sock))) {
                Thread.sleep(200); // let the export accept it
                q.ok("block-export-del", Map.of("id", "v"));
                q.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
                assertEquals(-1, c.read(java.nio.ByteBuffer.allocate(1)), "the front-end's connection is closed");
            }
            assertFalse(Files.exists(sock), "socket file removed with the export");
            assertEquals(0, q.ok("query-block-exports", null).size());
            // the id and the path can be used again
            q.ok("block-export-add", QmpClient.json("{\"type\":\"vhost-user-blk\",\"id\":\"v\",\"node-name\":\"f\","
                    + "\"addr\":{\"type\":\"unix\",\"path\":\"" + sock + "\"}}"));
            assertTrue(Files.exists(sock));
            q.ok("block-export-del", Map.of("id", "v", "mode", "hard"));
            q.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
            assertFalse(Files.exists(sock));
        }
    }
}
