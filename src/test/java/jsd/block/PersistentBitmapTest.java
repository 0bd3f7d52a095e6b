package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Persistent bitmaps in qcow2 images, between jsd and QEMU's tools: a
 * bitmap made by qemu-img is loaded and exported by jsd; bitmaps jsd makes
 * are in the image after jsd exits, where qemu-img lists them and
 * qemu-storage-daemon reads the same bits; a crash leaves them in_use, and
 * both daemons then show them as inconsistent.
 */
class PersistentBitmapTest {
    static Path dir() throws Exception { return Files.createTempDirectory("jsd-persistent-bitmaps-"); }

    static String[] args(Path image, Path sock, boolean readOnly) {
        return new String[] {
                "--blockdev", "qcow2,node-name=d" + (readOnly ? ",read-only=on" : "") + ",file.driver=file,file.filename=" + image,
                "--nbd-server", "addr.type=unix,addr.path=" + sock};
    }

    /** The node's query-named-block-nodes entry; waits for it, as the monitor may answer before --blockdev is done. */
    static JsonNode nodeInfo(QmpClient q, String node) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < deadline) {
            for (JsonNode n : q.ok("query-named-block-nodes", null)) if (n.get("node-name").asText().equals(node)) return n;
            Thread.sleep(50);
        }
        throw new AssertionError("no node " + node);
    }

    /** name -> sha256 of every bitmap of node d, and the dirty-bitmaps member. */
    static Map<String, String> shas(QmpClient q) throws Exception {
        Map<String, String> out = new LinkedHashMap<>();
        JsonNode bitmaps = nodeInfo(q, "d").get("dirty-bitmaps");
        if (bitmaps == null) return out;
        for (JsonNode b : bitmaps) {
            String name = b.get("name").asText();
            JsonNode r = q.execute("x-debug-block-dirty-bitmap-sha256", Map.of("node", "d", "name", name));
            out.put(name, r.has("return") ? r.get("return").get("sha256").asText() : r.get("error").get("desc").asText());
        }
        return out;
    }

    static String map(Path sock, String export, String bitmap) throws Exception {
        return Tools.run(null, "nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap,
                "nbd+unix:///" + export + "?socket=" + sock).expectOk().stdout();
    }

    static JsonNode imageInfo(Path image) throws Exception {
        return QmpClient.json(Tools.run(null, "qemu-img", "info", "-U", "--output=json", image.toString()).expectOk().stdout());
    }

    /** What qsd's query-named-block-nodes said of the image's format in the last {@link #qsdView}. */
    static JsonNode formatSpecific;

    /** Opens the image in qsd and returns what it sees: dirty-bitmaps and shas, and maps of the exported bitmaps. */
    static List<Object> qsdView(Path image, String... exported) throws Exception {
        Path sock = image.resolveSibling("qsd-" + image.getFileName() + ".sock");
        try (JsdProcess qsd = JsdProcess.startReference(args(image, sock, true)); QmpClient q = qsd.qmp()) {
            List<Object> out = new java.util.ArrayList<>();
            out.add(nodeInfo(q, "d").get("dirty-bitmaps"));
            out.add(shas(q));
            formatSpecific = nodeInfo(q, "d").get("image").get("format-specific");
            if (exported.length > 0) {
                q.ok("block-export-add", Map.of("type", "nbd", "id", "e", "node-name", "d", "name", "e",
                        "bitmaps", List.of((Object[]) exported)));
                for (String b : exported) out.add(map(sock, "e", b));
            }
            return out;
        }
    }

    @Test
    void qemuImgBitmapsLoadAndExport() throws Exception {
        Path d = dir();
        Path img = d.resolve("a.qcow2");
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M").expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--add", img.toString(), "made").expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--add", "--granularity", "4096", "--disable", img.toString(), "frozen").expectOk();
        Tools.run(d, "qemu-io", "-f", "qcow2", "-c", "write 1M 64k", "-c", "write 10M 100k", img.toString()).expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--enable", img.toString(), "frozen").expectOk();
        Tools.run(d, "qemu-io", "-f", "qcow2", "-c", "write 20M 4k", img.toString()).expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--disable", img.toString(), "frozen").expectOk();
        List<Object> reference = qsdView(img, "made", "frozen");
        Path sock = d.resolve("jsd.sock");
        try (JsdProcess jsd = JsdProcess.start(args(img, sock, true)); QmpClient q = jsd.qmp()) {
            assertEquals(reference.get(0), nodeInfo(q, "d").get("dirty-bitmaps"));
            assertEquals(reference.get(1), shas(q));
            assertEquals(formatSpecific, nodeInfo(q, "d").get("image").get("format-specific"));
            // read-only image: its bitmaps cannot change
            JsonNode e = q.error("block-dirty-bitmap-clear", Map.of("node", "d", "name", "made"));
            assertEquals("Bitmap 'made' is readonly and cannot be modified", e.get("desc").asText());
            q.ok("block-export-add", Map.of("type", "nbd", "id", "e", "node-name", "d", "name", "e",
                    "bitmaps", List.of("made", "frozen")));
            assertEquals(reference.get(2), map(sock, "e", "made"));
            assertEquals(reference.get(3), map(sock, "e", "frozen"));
            assertTrue(map(sock, "e", "frozen").contains("20971520        4096    1  dirty"), map(sock, "e", "frozen"));
        }
    }

    @Test
    void jsdMadeBitmapsSurviveAndQemuReadsThem() throws Exception {
        Path d = dir();
        Path img = d.resolve("b.qcow2");
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "64M").expectOk();
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", img.toString()).expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--add", img.toString(), "old").expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--add", img.toString(), "doomed").expectOk();
        Path sock = d.resolve("jsd.sock");
        Map<String, String> before;
        String mapP1, mapOld;
        try (JsdProcess jsd = JsdProcess.start(args(img, sock, false)); QmpClient q = jsd.qmp()) {
            nodeInfo(q, "d");
            // while open read-write, the stored ones are marked in use
            for (JsonNode b : imageInfo(img).get("format-specific").get("data").get("bitmaps")) {
                assertTrue(b.get("flags").toString().contains("in-use"), b.toString());
            }
            q.ok("block-dirty-bitmap-add", Map.of("node", "d", "name", "p1", "persistent", true, "granularity", 4096));
            q.ok("block-dirty-bitmap-add", Map.of("node", "d", "name", "p2", "persistent", true, "disabled", true));
            q.ok("block-dirty-bitmap-add", Map.of("node", "d", "name", "transient"));
            q.ok("block-dirty-bitmap-remove", Map.of("node", "d", "name", "doomed"));
            q.ok("block-export-add", Map.of("type", "nbd", "id", "w", "node-name", "d", "name", "w", "writable", true,
                    "bitmaps", List.of("p1", "old")));
            Tools.run(d, "qemu-io", "-f", "raw", "-c", "write 3M 5k", "-c", "write -z 30M 1M", "-c", "write 64000000 100000",
                    "nbd+unix:///w?socket=" + sock).expectOk();
            mapP1 = map(sock, "w", "p1");
            mapOld = map(sock, "w", "old");
            before = shas(q);
            assertEquals(List.of("transient", "p2", "p1", "old"), List.copyOf(before.keySet()));
            q.ok("quit", null);
            assertEquals(0, jsd.waitFor(30));
        }
        JsonNode info = imageInfo(img);
        assertEquals("[{\"flags\":[\"auto\"],\"name\":\"old\",\"granularity\":65536},"
                        + "{\"flags\":[\"auto\"],\"name\":\"p1\",\"granularity\":4096},"
                        + "{\"flags\":[],\"name\":\"p2\",\"granularity\":65536}]",
                info.get("format-specific").get("data").get("bitmaps").toString());
        Tools.Output check = Tools.run(d, "qemu-img", "check", img.toString());
        assertEquals(0, check.exitCode(), check.toString());
        assertTrue(check.stdout().contains("No errors were found"), check.toString());
        List<Object> q = qsdView(img, "p1", "old");
        before.remove("transient");
        assertEquals(before, q.get(1));
        assertEquals(mapP1, q.get(2));
        assertEquals(mapOld, q.get(3));
    }

    @Test
    void crashLeavesBitmapsInconsistentAsInQemu() throws Exception {
        Path d = dir();
        Path img = d.resolve("c.qcow2");
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M").expectOk();
        Tools.run(d, "qemu-img", "bitmap", "--add", img.toString(), "kept").expectOk();
        Path sock = d.resolve("jsd.sock");
        try (JsdProcess jsd = JsdProcess.start(args(img, sock, false)); QmpClient q = jsd.qmp()) {
            q.ok("block-dirty-bitmap-add", Map.of("node", "d", "name", "lost", "persistent", true));
            q.ok("block-export-add", Map.of("type", "nbd", "id", "w", "node-name", "d", "name", "w", "writable", true));
            Tools.run(d, "qemu-io", "-f", "raw", "-c", "write 1M 64k", "nbd+unix:///w?socket=" + sock).expectOk();
            jsd.process().destroyForcibly().waitFor();
        }
        // the bitmap made in the session was never stored; the loaded one stays marked in use
        assertEquals("[{\"flags\":[\"in-use\",\"auto\"],\"name\":\"kept\",\"granularity\":65536}]",
                imageInfo(img).get("format-specific").get("data").get("bitmaps").toString());
        Tools.Output check = Tools.run(d, "qemu-img", "check", img.toString());
        assertEquals(0, check.exitCode(), check.toString());
        Path copy = d.resolve("copy.qcow2");
        Files.copy(img, copy, StandardCopyOption.REPLACE_EXISTING);
        List<Object> reference = qsdView(copy);
        try (JsdProcess jsd = JsdProcess.start(args(img, sock, false)); QmpClient q = jsd.qmp()) {
            JsonNode mine = nodeInfo(q, "d").get("dirty-bitmaps");
            assertEquals(reference.get(0), mine);
            assertTrue(mine.get(0).get("inconsistent").asBoolean());
            assertEquals(reference.get(1), shas(q));
            try (JsdProcess qsd = JsdProcess.startReference(args(copy, d.resolve("q.sock"), false)); QmpClient r = qsd.qmp()) {
                for (Map<String, Object> a : List.<Map<String, Object>>of(
                        Map.of("type", "nbd", "id", "e", "node-name", "d", "name", "e", "writable", true, "bitmaps", List.of("kept")))) {
                    assertEquals(r.error("block-export-add", a), q.error("block-export-add", a));
                }
                for (String c : List.of("block-dirty-bitmap-clear", "block-dirty-bitmap-enable", "block-dirty-bitmap-disable")) {
                    assertEquals(r.error(c, Map.of("node", "d", "name", "kept")), q.error(c, Map.of("node", "d", "name", "kept")));
                }
                Map<String, Object> again = Map.of("node", "d", "name", "kept", "persistent", true);
                assertEquals(r.error("block-dirty-bitmap-add", again), q.error("block-dirty-bitmap-add", again));
                Map<String, Object> v = Map.of("node", "d", "name", "kept", "granularity", 512);
                assertEquals(r.error("block-dirty-bitmap-add", v), q.error("block-dirty-bitmap-add", v));
            }
            q.ok("block-dirty-bitmap-remove", Map.of("node", "d", "name", "kept"));
            q.ok("quit", null);
            assertEquals(0, jsd.waitFor(30));
        }
        assertFalse(imageInfo(img).get("format-specific").get("data").has("bitmaps"));
        assertEquals(0, Tools.run(d, "qemu-img", "check", img.toString()).exitCode());
    }

    static List<String> storedNames(Path image) throws Exception {
        List<String> out = new java.util.ArrayList<>();
        JsonNode b = imageInfo(image).get("format-specific").get("data").get("bitmaps");
        if (b != null) for (JsonNode x : b) out.add(x.get("name").asText());
        return out;
    }

    @Test
    void storedOnBlockdevDelAndOnSigterm() throws Exception {
        Path d = dir();
        Path img = d.resolve("s.qcow2");
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M").expectOk();
        Map<String, Object> add = Map.of("driver", "qcow2", "node-name", "x",
                "file", Map.of("driver", "file", "filename", img.toString()));
        try (JsdProcess jsd = JsdProcess.start(); QmpClient q = jsd.qmp()) {
            q.ok("blockdev-add", add);
            q.ok("block-dirty-bitmap-add", Map.of("node", "x", "name", "a1", "persistent", true));
            q.ok("blockdev-del", Map.of("node-name", "x"));
            assertEquals(List.of("a1"), storedNames(img));
            q.ok("blockdev-add", add);
            JsonNode loaded = nodeInfo(q, "x").get("dirty-bitmaps");
            assertEquals(1, loaded.size());
            assertTrue(loaded.get(0).get("persistent").asBoolean());
            q.ok("block-dirty-bitmap-add", Map.of("node", "x", "name", "a2", "persistent", true, "disabled", true));
            jsd.process().destroy(); // SIGTERM: a clean stop
            assertEquals(0, jsd.waitFor(30));
        }
        assertEquals(List.of("a1", "a2"), storedNames(img));
        assertEquals(0, Tools.run(d, "qemu-img", "check", img.toString()).exitCode());
    }

    @Test
    void persistentOnlyWhereTheFormatCanStoreIt() throws Exception {
        Path d = dir();
        Tools.run(d, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "64M").expectOk();
        Tools.run(d, "qemu-img", "create", "-q", "-f", "raw", "r.img", "64M").expectOk();
        String[] a = {"--blockdev", "qcow2,node-name=v2,file.driver=file,file.filename=" + d.resolve("v2.qcow2"),
                "--blockdev", "raw,node-name=r,file.driver=file,file.filename=" + d.resolve("r.img")};
        Path qd = dir();
        Files.copy(d.resolve("v2.qcow2"), qd.resolve("v2.qcow2"));
        Files.copy(d.resolve("r.img"), qd.resolve("r.img"));
        String[] b = {"--blockdev", "qcow2,node-name=v2,file.driver=file,file.filename=" + qd.resolve("v2.qcow2"),
                "--blockdev", "raw,node-name=r,file.driver=file,file.filename=" + qd.resolve("r.img")};
        try (JsdProcess jsd = JsdProcess.start(a); QmpClient q = jsd.qmp();
             JsdProcess qsd = JsdProcess.startReference(b); QmpClient r = qsd.qmp()) {
            for (Map<String, Object> args : List.<Map<String, Object>>of(
                    Map.of("node", "v2", "name", "p", "persistent", true),
                    Map.of("node", "r", "name", "p", "persistent", true),
                    Map.of("node", "v2", "name", "x".repeat(1024), "persistent", true))) {
                assertEquals(r.error("block-dirty-bitmap-add", args), q.error("block-dirty-bitmap-add", args));
            }
        }
    }
}
