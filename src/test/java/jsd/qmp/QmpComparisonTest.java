package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.QmpLines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The same QMP conversations, byte for byte, sent to qemu-storage-daemon 7.2
 * and to jsd: every input must get the same number of replies, each of the
 * same kind (return or error), error class, error text and id, and returns
 * of the same JSON shape. Where jsd differs on purpose the step says why
 * and only the kind and class are compared.
 */
class QmpComparisonTest {
    static JsdProcess qsd;
    static JsdProcess jsd;

    @BeforeAll
    static void start() throws Exception {
        qsd = JsdProcess.startReference();
        jsd = JsdProcess.start();
        for (JsdProcess p : List.of(qsd, jsd)) {
            // the same relative image names work for both: each runs in its own folder
            try (var f = java.nio.channels.FileChannel.open(p.dir().resolve("img.raw"),
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
                f.truncate(0).write(java.nio.ByteBuffer.allocate(1), (1 << 20) - 1);
            }
            Files.createFile(p.dir().resolve("img2.raw"));
        }
    }

    @AfterAll
    static void stop() {
        qsd.close();
        jsd.close();
    }

    /**
     * One input and, for a deliberate difference, why jsd answers otherwise
     * (null: all must match). kindOnly: only the number of replies and their
     * ids are compared, for answers that differ entirely.
     */
    record Step(byte[] input, String difference, boolean kindOnly) {
        Step(byte[] input, String difference) { this(input, difference, false); }
    }

    static Step own(String input, String why) { return new Step(input.getBytes(StandardCharsets.UTF_8), why, true); }

    /** Replies may nest as deep as QMP allows (1024), deeper than Jackson's default limit. */
    static final com.fasterxml.jackson.databind.ObjectMapper DEEP = new com.fasterxml.jackson.databind.ObjectMapper(
            com.fasterxml.jackson.core.JsonFactory.builder().streamReadConstraints(
                    com.fasterxml.jackson.core.StreamReadConstraints.builder().maxNestingDepth(5000)
                            .maxStringLength(200 << 20).build()).build());

    static JsonNode parse(String line) {
        try {
            return DEEP.readTree(line);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + show(line.getBytes(StandardCharsets.ISO_8859_1)), e);
        }
    }

    static Step same(String input) { return new Step(input.getBytes(StandardCharsets.UTF_8), null); }

    static Step sameBytes(byte[] input) { return new Step(input, null); }

    static Step differs(String input, String why) { return new Step(input.getBytes(StandardCharsets.UTF_8), why); }

    static String cmd(String name, String args) {
        return "{\"execute\": \"" + name + "\"" + (args == null ? "" : ", \"arguments\": " + args) + "}";
    }

    static final Step NEGOTIATE = same(cmd("qmp_capabilities", null));

    /** Runs the steps on a fresh connection to each daemon and compares every reply. */
    static void converse(Step... steps) throws IOException {
        try (QmpLines q = QmpLines.connect(qsd.qmpSocket()); QmpLines j = QmpLines.connect(jsd.qmpSocket())) {
            compareGreeting(q.greeting(), j.greeting());
            for (Step s : steps) {
                List<String> qr = q.exchange(s.input());
                List<String> jr = j.exchange(s.input());
                String what = "input " + show(s.input()) + "\n  qsd: " + qr + "\n  jsd: " + jr;
                assertEquals(qr.size(), jr.size(), "number of replies differs for " + what);
                for (int i = 0; i < qr.size(); i++) compareReply(parse(qr.get(i)), parse(jr.get(i)), s, what);
            }
        }
    }

    static String show(byte[] input) {
        String s = new String(input, StandardCharsets.ISO_8859_1);
        return s.length() > 200 ? s.substring(0, 200) + "...(" + s.length() + " bytes)" : s;
    }

    static void compareGreeting(String q, String j) {
        JsonNode qg = QmpClient.json(q).get("QMP");
        JsonNode jg = QmpClient.json(j).get("QMP");
        assertEquals(qg.get("capabilities"), jg.get("capabilities"));
        assertEquals(qg.get("version").get("qemu").get("major"), jg.get("version").get("qemu").get("major"));
        assertEquals(qg.get("version").get("qemu").get("minor"), jg.get("version").get("qemu").get("minor"));
        assertShape(qg, jg, "greeting");
    }

    static void compareReply(JsonNode q, JsonNode j, Step s, String what) {
        assertEquals(q.get("id"), j.get("id"), "id differs for " + what);
        if (s.kindOnly()) return;
        if (q.has("event")) {
            assertEquals(q.get("event"), j.get("event"), "event differs for " + what);
            return;
        }
        if (q.has("error")) {
            assertTrue(j.has("error"), "qsd fails, jsd does not: " + what);
            assertEquals(q.get("error").get("class"), j.get("error").get("class"), "class differs for " + what);
            if (s.difference() == null) assertEquals(q.get("error").get("desc"), j.get("error").get("desc"), "desc differs for " + what);
            return;
        }
        assertTrue(j.has("return"), "qsd succeeds, jsd does not: " + what);
        assertShape(q.get("return"), j.get("return"), what);
    }

    /** Same JSON type; every member qsd has, jsd has with the same shape; arrays of the same length. */
    static void assertShape(JsonNode q, JsonNode j, String what) {
        if (q.isNumber() && j.isNumber()) return;
        assertEquals(q.getNodeType(), j.getNodeType(), "shape differs (" + q + " vs " + j + ") for " + what);
        if (q.isObject()) {
            for (Iterator<String> it = q.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!j.has(k)) fail("jsd lacks member '" + k + "' (" + j + ") for " + what);
                assertShape(q.get(k), j.get(k), what);
            }
        } else if (q.isArray()) {
            assertEquals(q.size(), j.size(), "array length differs for " + what);
            for (int i = 0; i < q.size(); i++) assertShape(q.get(i), j.get(i), what);
        }
    }

    @Test
    void dirtyBitmapArguments() throws Exception {
        converse(NEGOTIATE,
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"bmf\", \"filename\": \"img.raw\"}")),
                same(cmd("query-block", null)),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": 5}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\"}")),
                same(cmd("block-dirty-bitmap-add", "{\"name\": \"a\"}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": \"a\", \"granularity\": \"x\"}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": \"a\", \"granularity\": 4294967296}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": \"a\", \"persistent\": 1}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": \"a\", \"bogus\": 1}")),
                same(cmd("block-dirty-bitmap-add", "{\"node\": \"bmf\", \"name\": \"a\", \"granularity\": 1024}")),
                same(cmd("block-dirty-bitmap-merge", "{\"node\": \"bmf\", \"target\": \"a\", \"bitmaps\": \"x\"}")),
                differs(cmd("block-dirty-bitmap-merge", "{\"node\": \"bmf\", \"target\": \"a\", \"bitmaps\": [5]}"),
                        "qsd 7.2 names an alternate inside a list 'null'; jsd says 'bitmaps[0]'"),
                same(cmd("block-dirty-bitmap-merge", "{\"node\": \"bmf\", \"target\": \"a\", \"bitmaps\": [{\"node\": \"bmf\"}]}")),
                same(cmd("block-dirty-bitmap-merge", "{\"node\": \"bmf\", \"target\": \"a\", \"bitmaps\": [\"a\", {\"node\": \"bmf\", \"name\": \"a\"}]}")),
                same(cmd("block-dirty-bitmap-clear", "{\"node\": \"bmf\"}")),
                same(cmd("x-debug-block-dirty-bitmap-sha256", "{\"node\": \"bmf\", \"name\": \"a\"}")),
                same(cmd("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"bm-nbd.sock\"}}}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"bmf\", \"bitmaps\": [{\"name\": \"a\"}]}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"bmf\", \"bitmaps\": \"a\"}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"bmf\", \"bitmaps\": [\"a\"]}")),
                same(cmd("nbd-server-add", "{\"device\": \"bmf\", \"bitmap\": 1}")),
                same(cmd("nbd-server-stop", null)),
                same(cmd("block-dirty-bitmap-remove", "{\"node\": \"bmf\", \"name\": \"a\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"bmf\"}")));
    }

    @Test
    void negotiation() throws Exception {
        converse(same(cmd("query-version", null)),
                same(cmd("no-such-command", null)),
                same("{\"exec-oob\": \"query-version\", \"id\": 1}"),
                same(cmd("qmp_capabilities", "{\"enable\": [\"foo\"]}")),
                same(cmd("qmp_capabilities", "{\"enable\": \"oob\"}")),
                same(cmd("qmp_capabilities", "{\"bogus\": 1}")),
                same("{\"execute\": \"qmp_capabilities\", \"id\": \"n\"}"),
                same(cmd("qmp_capabilities", null)),
                same(cmd("query-version", null)));
    }

    @Test
    void negotiationWithOob() throws Exception {
        converse(same(cmd("qmp_capabilities", "{\"enable\": [\"oob\"]}")),
                same("{\"exec-oob\": \"query-version\", \"id\": 1}"),
                same("{\"id\": 2}"),
                same("{\"exec-oob\": \"query-version\"}"));
    }

    @Test
    void envelopeAndIdEcho() throws Exception {
        converse(NEGOTIATE,
                same("[1, 2]"), same("42"), same("\"text\""), same("null"), same("true"),
                same("{\"id\": 3}"),
                same("{\"execute\": 1, \"id\": 4}"),
                same("{\"execute\": \"query-version\", \"arguments\": [], \"id\": 5}"),
                same("{\"execute\": \"query-version\", \"foo\": 1, \"id\": \"x\"}"),
                same("{\"exec-oob\": \"query-version\", \"id\": 7}"),
                same("{\"execute\": \"nosuch\", \"id\": {\"a\": [1, \"b\", null, true]}}"),
                same("{'execute': 'query-version', 'id': 'single \\' quoted'}"),
                same("{\"execute\": \"query-version\", \"id\": 1.5}"),
                same("{\"execute\": \"query-version\", \"id\": -0}"),
                same("{\"execute\": \"query-version\", \"id\": 18446744073709551615}"),
                same("{\"execute\": \"query-version\", \"id\": null}"),
                same("{\"execute\": \"query-version\", \"id\": \"caf\u00e9 \\u00e9 \\ud83d\\ude00 \\t\\n\"}"),
                same("{\"execute\": \"query-version\", \"id\": \"\\u0000\"}"),
                same("{\"execute\": \"query-version\"} {\"execute\": \"query-version\", \"id\": 2}"),
                same(cmd("query-version", "{\"x\": 1}")),
                own(cmd("query-commands", null), "jsd lists only the commands it has"),
                same(cmd("query-block-exports", null)));
    }

    @Test
    void jsonSyntaxErrors() throws Exception {
        converse(NEGOTIATE,
                same("{\"execute\": }"), same("garbage"), same("}"), same("]"),
                same("{\"execute\" \"query-version\"}"),
                same("{\"execute\": \"query-version\",}"),
                same("{\"execute\": \"query-version\" \"id\": 1}"),
                same("{1: 2}"), same("[1 2]"),
                same("{\"execute\": \"query-version\", \"id\": 01}"),
                same("{\"execute\": \"query-version\", \"id\": tru}"),
                same("{\"execute\": \"query-version\", \"id\": 1.}"),
                same("{\"execute\": \"query-version\", \"id\": -}"),
                same("{\"execute\": \"query-version\", \"execute\": \"quit\"}"),
                same("{\"execute\": \"query-version\", \"id\": \"\\x\"}"),
                same("{\"execute\": \"query-version\", \"id\": \"\\ud800\"}"),
                same("{\"execute\": \"query-version\", \"id\": \"\\u12G4\"}"),
                same("{\"execute\": \"query-version\", \"id\": \"\\uFFFF\"}"),
                same("{\"execute\": \"query-version\", \"id\": %d}"),
                same("{\"execute\": \"query-version\", \"id\": [1,]}"),
                same("{\"execute\": \"query-version\", \"id\": {\"a\"}}"),
                same("{\"execute\": \"query-version\", \"id\": {\"a\": 1 \"b\": 2}}"));
    }

    @Test
    void hostileBytes() throws Exception {
        converse(NEGOTIATE,
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u00ff\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u00c3\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u00c0\u0080\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u00ed\u00a0\u0080\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u00e0\u0080\u00af\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes(new byte[] {(byte) 0xff}),
                sameBytes(new byte[] {(byte) 0xc3, (byte) 0xa9}),
                sameBytes(new byte[] {0}),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"a\u0000b\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \"id\": \"\u0001\"}".getBytes(StandardCharsets.ISO_8859_1)),
                sameBytes("{\"execute\": \"query-version\", \u001b \"id\": 1}".getBytes(StandardCharsets.ISO_8859_1)),
                same(cmd("query-version", null)));
    }

    @Test
    void hugeAndDeepInput() throws Exception {
        // qsd takes about 5 s per MiB of string; jsd's 10 MiB case is in QmpHostileInputTest
        String big = "x".repeat(1 << 20);
        String deepOk = "[".repeat(1023) + "1" + "]".repeat(1023);
        String tooDeep = "[".repeat(1025) + "1" + "]".repeat(1025);
        StringBuilder pipelined = new StringBuilder();
        for (int i = 0; i < 1000; i++) pipelined.append("{\"execute\": \"query-version\", \"id\": ").append(i).append("}");
        converse(NEGOTIATE,
                same("{\"execute\": \"query-version\", \"id\": \"" + big + "\"}"),
                same("{\"execute\": \"no-such\", \"id\": 1, \"arguments\": {\"" + big + "\": 1}}"),
                same("{\"execute\": \"query-version\", \"id\": " + deepOk + "}"),
                same("{\"execute\": \"query-version\", \"id\": " + tooDeep + "}"),
                same("{\"execute\": \"query-version\", \"id\": " + "{\"a\": ".repeat(1100) + "1" + "}".repeat(1100) + "}"),
                same(pipelined.toString()),
                same(cmd("query-version", null)));
    }

    @Test
    void argumentErrors() throws Exception {
        converse(NEGOTIATE,
                same(cmd("blockdev-add", "{\"driver\": \"null-co\"}")),
                same(cmd("blockdev-add", "{\"node-name\": \"n1\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"nope\", \"node-name\": \"n1\"}")),
                same(cmd("blockdev-add", "{\"driver\": 5, \"node-name\": \"n1\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"bogus\": 1}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"size\": \"x\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"size\": 1.5}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"size\": 9223372036854775808}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"size\": 18446744073709551616}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"latency-ns\": -1}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"latency-ns\": \"x\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"latency-ns\": 2.5}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"read-only\": \"yes\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"read-only\": 1}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"cache\": 5}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"cache\": {\"direct\": 1}}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"cache\": {\"x\": true}}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n1\", \"detect-zeroes\": \"bogus\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f1\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f1\", \"filename\": [\"x\"]}")),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f1\", \"filename\": \"x\", \"aio\": \"bogus\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r1\", \"file\": 5}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r1\", \"file\": [1]}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r1\", \"file\": {\"driver\": \"nope\"}}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r1\", \"file\": {\"driver\": \"null-co\", \"x\": 1}}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r1\", \"file\": {\"driver\": \"null-co\", \"size\": \"x\"}}")),
                same(cmd("blockdev-del", "{}")),
                same(cmd("blockdev-del", "{\"node-name\": 1}")),
                same(cmd("block-export-add", "{\"type\": \"vhost-user-blk\", \"id\": \"e\", \"node-name\": \"n\", \"addr\": {\"type\": \"unix\", \"path\": \"x\"}, \"num-queues\": 70000}")),
                same(cmd("block-export-add", "{\"type\": \"vhost-user-blk\", \"id\": \"e\", \"node-name\": \"n\", \"addr\": {\"type\": \"unix\", \"path\": \"x\"}, \"num-queues\": -1}")),
                same(cmd("block-export-add", "{\"type\": \"vhost-user-blk\", \"id\": \"e\", \"node-name\": \"n\", \"addr\": {\"type\": \"unix\", \"path\": \"x\"}, \"logical-block-size\": \"x\"}")),
                same(cmd("block-export-add", "{\"type\": \"vhost-user-blk\", \"id\": \"e\", \"node-name\": \"n\", \"addr\": {\"type\": \"bogus\"}}")),
                same(cmd("block-export-add", "{\"type\": \"vhost-user-blk\", \"id\": \"e\", \"node-name\": \"n\", \"addr\": {\"type\": \"unix\"}}")),
                same(cmd("block-export-add", "{\"type\": \"bogus\", \"id\": \"e\", \"node-name\": \"n\"}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"e\"}")),
                same(cmd("block-export-del", "{\"id\": \"e\", \"mode\": \"bogus\"}")),
                same(cmd("object-add", "{\"qom-type\": \"bogus\", \"id\": \"o\"}")),
                same(cmd("object-add", "{\"qom-type\": \"iothread\"}")),
                same(cmd("object-add", "{\"qom-type\": \"iothread\", \"id\": \"o\", \"poll-max-ns\": \"x\"}")));
    }

    @Test
    void blockNodes() throws Exception {
        converse(NEGOTIATE,
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"img.raw\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"img.raw\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": \"f\", \"offset\": 512, \"size\": 1024}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r2\", \"file\": \"f\", \"offset\": 512, \"size\": 1000}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r3\", \"file\": \"f\", \"offset\": 1048576, \"size\": 512}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r4\", \"file\": \"f\", \"offset\": 2097152}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r5\", \"file\": \"nonode\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"f\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"nope\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"1bad\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"" + "a".repeat(32) + "\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n\", \"size\": 1048576, \"read-zeroes\": true}")),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"ro\", \"filename\": \"img2.raw\", \"read-only\": true, \"cache\": {\"direct\": true}, \"aio\": \"native\", \"locking\": \"off\"}")),
                same(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"rr\", \"file\": \"ro\", \"read-only\": true}")),
                // jsd refuses a writable format node over a read-only one when it is added; QEMU only
                // refuses once something asks to write through it
                own(cmd("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"rw\", \"file\": \"ro\"}"), "checked earlier"),
                own(cmd("blockdev-del", "{\"node-name\": \"rw\"}"), "exists only in qsd"),
                same(cmd("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"dir\", \"filename\": \"/nonexistent/img\"}")),
                same(cmd("query-named-block-nodes", "{\"flat\": true}")),
                same(cmd("blockdev-del", "{\"node-name\": \"r\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"rr\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"ro\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"f\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"n\"}")),
                same(cmd("query-named-block-nodes", null)));
    }

    @Test
    void exports() throws Exception {
        converse(NEGOTIATE,
                same(cmd("blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"en\", \"size\": 1048576}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"1e\", \"node-name\": \"en\"}")),
                same(cmd("block-export-add", "{\"type\": \"nbd\", \"id\": \"e\", \"node-name\": \"nx\"}")),
                same(cmd("block-export-add", "{\"type\": \"fuse\", \"id\": \"e\", \"node-name\": \"nx\", \"mountpoint\": \"x\"}")),
                // jsd has no FUSE, vhost-user-blk or VDUSE export yet: a clear error naming the type
                differs(cmd("block-export-add", "{\"type\": \"fuse\", \"id\": \"e\", \"node-name\": \"en\", \"mountpoint\": \"/nonexistent\"}"), "not built yet"),
                differs(cmd("block-export-add", "{\"type\": \"vduse-blk\", \"id\": \"e\", \"node-name\": \"en\", \"name\": \"x\"}"), "not built yet"),
                same(cmd("block-export-del", "{\"id\": \"zz\"}")),
                same(cmd("query-block-exports", null)),
                same(cmd("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\"}")),
                same(cmd("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\"}")),
                same(cmd("object-add", "{\"qom-type\": \"iothread\", \"id\": \"1x\"}")),
                same(cmd("object-del", "{\"id\": \"nope\"}")),
                same(cmd("object-del", "{\"id\": \"io1\"}")),
                same(cmd("blockdev-del", "{\"node-name\": \"en\"}")));
    }

    static List<String> list(String... s) { return new ArrayList<>(List.of(s)); }
}
