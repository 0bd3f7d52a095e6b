package jsd.block;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.RawNbd;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What dirty bitmaps are for: a pull-mode incremental backup. A full copy
 * is taken, a bitmap records the guest's writes, and the backup program
 * (python3-libnbd) reads only the dirty extents of a read-only export of a
 * frozen (disabled) bitmap; the backup then equals the disk. Also the
 * bitmap context with NBD extended headers, which qsd 7.2 lacks.
 */
class DirtyBitmapBackupTest {
    static final long SIZE = 64L << 20;
    static Path dir;
    static JsdProcess jsd;
    static QmpClient qmp;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("jsd-bitmap-backup-");
        Tools.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "disk.qcow2", "64M").expectOk();
        Tools.run(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 16M", "-c", "write -P 0x33 40M 2M",
                "disk.qcow2").expectOk();
        jsd = JsdProcess.start("--blockdev", "qcow2,node-name=disk,file.driver=file,file.filename=" + dir.resolve("disk.qcow2"),
                "--nbd-server", "addr.type=unix,addr.path=" + dir.resolve("nbd.sock"),
                "--export", "nbd,id=guest,node-name=disk,name=guest,writable=on");
        qmp = jsd.qmp();
    }

    @AfterAll
    static void stop() throws Exception {
        if (qmp != null) qmp.close();
        if (jsd != null) jsd.close();
    }

    static String uri(String export) { return "nbd+unix:///" + export + "?socket=" + dir.resolve("nbd.sock"); }

    @Test
    void incrementalBackupReadsOnlyDirtyExtents() throws Exception {
        // the full backup, through NBD, and from then on a bitmap records what changes
        Tools.run(dir, "qemu-img", "convert", "-f", "raw", "-O", "raw", uri("guest"), "backup.raw").expectOk();
        Files.copy(dir.resolve("backup.raw"), dir.resolve("full.raw"));
        qmp.ok("block-dirty-bitmap-add", Map.of("node", "disk", "name", "inc"));
        // the "guest" writes: random data at random places, zeroes, a discard
        Random rnd = new Random(99);
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (int i = 0; i < 40; i++) {
            long len = 1 + rnd.nextInt(200_000);
            long off = (long) (rnd.nextDouble() * (SIZE - len));
            cmd.addAll(List.of("-c", "write -P " + rnd.nextInt(256) + " " + off + " " + len));
        }
        cmd.addAll(List.of("-c", "write -z 8M 1M", "-c", "write -P 0x77 " + (SIZE - 1000) + " 1000", uri("guest")));
        Tools.run(dir, 120, cmd).expectOk();
        // freeze the bitmap (a new one would take over for the next increment) and offer it read-only
        qmp.ok("block-dirty-bitmap-add", Map.of("node", "disk", "name", "next"));
        qmp.ok("block-dirty-bitmap-disable", Map.of("node", "disk", "name", "inc"));
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "backup", "node-name", "disk", "name", "backup",
                "bitmaps", List.of("inc")));
        long dirty = 0;
        for (JsonNode n : qmp.ok("query-named-block-nodes", null)) {
            if (n.get("node-name").asText().equals("disk")) {
                for (JsonNode b : n.get("dirty-bitmaps")) {
                    if (b.get("name").asText().equals("inc")) {
                        dirty = b.get("count").asLong();
                        assertTrue(b.get("busy").asBoolean());
                        assertTrue(!b.get("recording").asBoolean());
                    }
                }
            }
        }
        assertTrue(dirty > 0 && dirty < SIZE / 2, "dirty bytes " + dirty);
        Path script = JsdProcess.HOME.resolve("src/test/resources/bitmaps/incremental_backup.py");
        Tools.Output out = Tools.run(dir, 120, List.of("/usr/bin/python3", script.toString(), uri("backup"),
                "qemu:dirty-bitmap:inc", dir.resolve("backup.raw").toString())).expectOk();
        String[] words = out.stdout().trim().split(" ");
        assertEquals("copied", words[0], out.toString());
        assertEquals(dirty, Long.parseLong(words[1]), "the backup read exactly the dirty bytes");
        // the increment applied to the full backup gives the disk as it is now
        Tools.run(dir, "qemu-img", "compare", "-f", "raw", "-F", "raw", "backup.raw", uri("backup")).expectOk();
        // and without the increment it would not
        assertEquals(1, Tools.run(dir, "qemu-img", "compare", "-f", "raw", "-F", "raw", "full.raw", uri("backup")).exitCode());
        qmp.ok("block-export-del", Map.of("id", "backup", "mode", "hard"));
        qmp.expectEvent("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        qmp.ok("block-dirty-bitmap-remove", Map.of("node", "disk", "name", "inc"));
        qmp.ok("block-dirty-bitmap-remove", Map.of("node", "disk", "name", "next"));
    }

    /**
     * A bitmap exported from another node ({node, name}) keeps that node:
     * blockdev-del is refused until the export is gone (qsd 7.2 deletes the
     * node and then aborts).
     */
    @Test
    void nodeOfAnExportedBitmapStaysUntilTheExportIsGone() throws Exception {
        qmp.ok("blockdev-add", Map.of("driver", "null-co", "node-name", "other", "size", SIZE));
        qmp.ok("block-dirty-bitmap-add", Map.of("node", "other", "name", "far"));
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "far", "node-name", "disk", "name", "far",
                "writable", true, "bitmaps", List.of(Map.of("node", "other", "name", "far"))));
        assertEquals("Node other is in use", qmp.error("blockdev-del", Map.of("node-name", "other")).get("desc").asText());
        qmp.ok("block-export-del", Map.of("id", "far", "mode", "hard"));
        qmp.expectEvent("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        qmp.ok("blockdev-del", Map.of("node-name", "other"));
    }

    /**
     * Six contexts of thousands of extents each in one BLOCK_STATUS reply
     * (more than one reply batch holds): every chunk arrives whole, capped
     * at 8192 extents, the last one flagged done, and the connection goes on.
     */
    @Test
    void manyFragmentedContextsInOneReply() throws Exception {
        qmp.ok("blockdev-add", Map.of("driver", "null-co", "node-name", "frag", "size", 16 << 20));
        List<String> names = List.of("f1", "f2", "f3", "f4");
        qmp.ok("block-dirty-bitmap-add", Map.of("node", "frag", "name", "f1", "granularity", 512));
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "frag", "node-name", "frag", "name", "frag",
                "writable", true, "allocation-depth", true));
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (long off = 0; off < (10 << 20); off += 1024) cmd.addAll(List.of("-c", "write " + off + " 512"));
        cmd.add(uri("frag"));
        Tools.run(dir, 300, cmd).expectOk();
        qmp.ok("block-export-del", Map.of("id", "frag", "mode", "hard"));
        qmp.expectEvent("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        for (String n : names.subList(1, 4)) {
            qmp.ok("block-dirty-bitmap-add", Map.of("node", "frag", "name", n, "granularity", 512));
            qmp.ok("block-dirty-bitmap-merge", Map.of("node", "frag", "target", n, "bitmaps", List.of("f1")));
        }
        for (String n : names) qmp.ok("block-dirty-bitmap-disable", Map.of("node", "frag", "name", n));
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "frag", "node-name", "frag", "name", "frag",
                "allocation-depth", true, "bitmaps", names));
        for (boolean extended : new boolean[] {true, false}) {
            try (RawNbd c = RawNbd.connect(dir.resolve("nbd.sock")).start()) {
                c.option(extended ? 11 : 8, new byte[0]);
                assertEquals(1, c.optReply().type());
                c.option(10, RawNbd.metaQuery("frag", "base:allocation", "qemu:allocation-depth", "qemu:dirty-bitmap:f1",
                        "qemu:dirty-bitmap:f2", "qemu:dirty-bitmap:f3", "qemu:dirty-bitmap:f4"));
                assertEquals(7, c.optReplies().size());
                c.go("frag");
                for (int round = 0; round < 2; round++) {
                    if (extended) c.extendedRequest(0, 7, 1, 0, 16 << 20);
                    else c.request(0, 7, 1, 0, 16 << 20);
                    for (int ctx = 0; ctx < 6; ctx++) {
                        RawNbd.Chunk ch = c.chunk();
                        assertEquals(extended ? 6 : 5, ch.type());
                        assertEquals(ctx == 5, ch.done(), "chunk " + ctx);
                        ByteBuffer p = ByteBuffer.wrap(ch.payload());
                        int id = p.getInt(0);
                        int n = extended ? p.getInt(4) : (p.limit() - 4) / 8;
                        if (id >= 2) { // a bitmap: alternating 512-byte runs, capped
                            assertEquals(8192, n, "extents of context " + id);
                            int step = extended ? 16 : 8, at = extended ? 8 : 4;
                            for (int e = 0; e < n; e++) {
                                long len = extended ? p.getLong(at + e * step) : p.getInt(at + e * step);
                                long fl = extended ? p.getLong(at + e * step + 8) : p.getInt(at + e * step + 4);
                                assertEquals(512, len);
                                assertEquals(e % 2 == 0 ? 1 : 0, fl);
                            }
                        }
                    }
                }
            }
        }
        qmp.ok("block-export-del", Map.of("id", "frag", "mode", "hard"));
        qmp.expectEvent("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        qmp.ok("blockdev-del", Map.of("node-name", "frag"));
    }

    /** BLOCK_STATUS_EXT chunks for a bitmap context carry the same extents as the 32-bit ones. */
    @Test
    void bitmapContextWithExtendedHeaders() throws Exception {
        qmp.ok("block-dirty-bitmap-add", Map.of("node", "disk", "name", "ext", "granularity", 4096));
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "ext", "node-name", "disk", "name", "ext",
                "writable", true, "bitmaps", List.of("ext")));
        Tools.run(dir, "qemu-io", "-f", "raw", "-c", "write 5000 10", "-c", "write 1M 64k", "-c", "write 63M 4k",
                uri("ext")).expectOk();
        List<long[]> plain = new ArrayList<>();
        try (RawNbd c = RawNbd.connect(dir.resolve("nbd.sock")).start()) {
            c.option(8, new byte[0]);
            assertEquals(1, c.optReply().type());
            c.option(10, RawNbd.metaQuery("ext", "qemu:dirty-bitmap:ext"));
            List<RawNbd.OptReply> set = c.optReplies();
            assertEquals(2, set.size(), set.toString());
            assertEquals(2, ByteBuffer.wrap(set.get(0).data()).getInt(0)); // the first bitmap's id
            c.go("ext");
            c.request(0, 7, 1, 0, (int) SIZE);
            RawNbd.Chunk ch = c.chunk();
            assertEquals(5, ch.type()); // BLOCK_STATUS
            ByteBuffer p = ByteBuffer.wrap(ch.payload());
            for (int i = 4; i < p.limit(); i += 8) plain.add(new long[] {p.getInt(i) & 0xffffffffL, p.getInt(i + 4)});
        }
        List<long[]> ext = new ArrayList<>();
        try (RawNbd c = RawNbd.connect(dir.resolve("nbd.sock")).start()) {
            c.option(11, new byte[0]);
            assertEquals(1, c.optReply().type());
            c.option(10, RawNbd.metaQuery("ext", "qemu:dirty-bitmap:ext"));
            c.optReplies();
            c.go("ext");
            c.extendedRequest(0, 7, 1, 0, SIZE);
            RawNbd.Chunk ch = c.chunk();
            assertEquals(6, ch.type()); // BLOCK_STATUS_EXT
            assertTrue(ch.done());
            ByteBuffer p = ByteBuffer.wrap(ch.payload());
            assertEquals(2, p.getInt(0));
            int n = p.getInt(4);
            for (int i = 0; i < n; i++) ext.add(new long[] {p.getLong(8 + 16 * i), p.getLong(16 + 16 * i)});
        }
        assertEquals(plain.size(), ext.size());
        for (int i = 0; i < ext.size(); i++) {
            assertEquals(plain.get(i)[0], ext.get(i)[0]);
            assertEquals(plain.get(i)[1], ext.get(i)[1]);
        }
        // clean 0..4K, dirty 4K..8K (the write at 5000), then 1M+64K and 63M+4K dirty
        assertEquals(List.of(4096L, 0L), List.of(ext.get(0)[0], ext.get(0)[1]));
        assertEquals(List.of(4096L, 1L), List.of(ext.get(1)[0], ext.get(1)[1]));
        assertEquals(7, ext.size());
        qmp.ok("block-export-del", Map.of("id", "ext", "mode", "hard"));
        qmp.expectEvent("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        qmp.ok("block-dirty-bitmap-remove", Map.of("node", "disk", "name", "ext"));
    }
}
