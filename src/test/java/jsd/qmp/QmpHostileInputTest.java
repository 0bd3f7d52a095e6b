package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.QmpLines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Input meant to hurt the monitor: the daemon answers what it can, drops
 * what it must, and the next client is always served. (The same inputs on
 * one connection are compared with qemu-storage-daemon in QmpComparisonTest.)
 */
class QmpHostileInputTest {
    static JsdProcess jsd;

    @BeforeAll
    static void start() throws Exception { jsd = JsdProcess.start(); }

    @AfterAll
    static void stop() { jsd.close(); }

    static void assertServed() throws Exception {
        try (QmpClient c = jsd.qmp()) {
            assertEquals(7, c.ok("query-version", null).get("qemu").get("major").asInt());
        }
        assertTrue(jsd.process().isAlive());
    }

    @Test
    void tenMegabyteStringIsEchoed() throws Exception {
        String big = "y".repeat(10 << 20);
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send("{\"execute\": \"qmp_capabilities\"}\n");
            c.next(10_000);
            List<String> r = c.exchange(("{\"execute\": \"query-version\", \"id\": \"" + big + "\"}").getBytes(StandardCharsets.UTF_8));
            assertEquals(1, r.size());
            assertTrue(r.get(0).endsWith("\"id\": \"" + big + "\"}"));
        }
        assertServed();
    }

    @Test
    void oversizedMessageIsRefused() throws Exception {
        // beyond QEMU's 64 MiB per message: an error, and the monitor carries on
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send("{\"execute\": \"qmp_capabilities\"}\n");
            c.next(10_000);
            byte[] chunk = ("\"" + "a".repeat(4000) + "\", ").repeat(256).getBytes(StandardCharsets.US_ASCII);
            c.send("{\"execute\": \"query-version\", \"id\": [");
            for (long sent = 0; sent < (66L << 20); sent += chunk.length) c.send(chunk);
            c.send("1]}\n");
            String first = c.next(60_000);
            assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}", first);
        }
        assertServed();
    }

    @Test
    void tooManyTokensAreRefused() throws Exception {
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send("{\"execute\": \"qmp_capabilities\"}\n");
            c.next(10_000);
            c.send("[" + "1,".repeat(3 << 20) + "1]\n");
            assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token count limit exceeded\"}}", c.next(60_000));
        }
        assertServed();
    }

    @Test
    void unterminatedMessageThenEof() throws Exception {
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send("{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"query-version\", \"id\": [1, 2, {\"a\": \"b");
            assertTrue(c.next(10_000).startsWith("{\"return\""));
        }
        assertServed();
    }

    @Test
    void clientLeavesMidMessageAndMidReply() throws Exception {
        for (int i = 0; i < 20; i++) {
            QmpLines c = QmpLines.connect(jsd.qmpSocket());
            c.send("{\"execute\": \"qmp_capabilities\"}\n" + "{\"execute\": \"query-qmp-schema\"}\n".repeat(5) + "{\"execute\": ");
            c.close(); // replies still being written; a message half sent
        }
        assertServed();
    }

    @Test
    void thousandPipelinedMessagesAnsweredInOrder() throws Exception {
        StringBuilder all = new StringBuilder("{\"execute\": \"qmp_capabilities\"}");
        for (int i = 0; i < 1000; i++) all.append("{\"execute\": \"query-version\", \"id\": ").append(i).append("}\n");
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send(all.toString());
            assertTrue(c.next(10_000).startsWith("{\"return\": {}"));
            for (int i = 0; i < 1000; i++) {
                String l = c.next(10_000);
                assertTrue(l.endsWith("\"id\": " + i + "}"), l);
            }
        }
    }

    @Test
    void invalidUtf8NulAndControlBytes() throws Exception {
        try (QmpLines c = QmpLines.connect(jsd.qmpSocket())) {
            c.send("{\"execute\": \"qmp_capabilities\"}\n");
            c.next(10_000);
            List<String> r = c.exchange(new byte[] {'{', '"', (byte) 0xff, '"', ':', 1, 0, (byte) 0xc3, '}', '\n'});
            assertTrue(r.stream().allMatch(l -> l.startsWith("{\"error\"")), r.toString());
            assertTrue(r.get(0).contains("stray"), r.toString());
            for (String l : r) assertTrue(l.chars().allMatch(ch -> ch >= 0x20 && ch < 0x7f), "not ASCII: " + l);
        }
        assertServed();
    }

    @Test
    void deepNestingIsRefused() throws Exception {
        try (QmpClient c = jsd.qmp()) {
            c.sendRaw("[".repeat(5000));
            JsonNode r = c.reply();
            assertEquals("JSON nesting depth limit exceeded", r.get("error").get("desc").asText());
            assertNull(r.get("id"));
        }
        assertServed();
    }
}
