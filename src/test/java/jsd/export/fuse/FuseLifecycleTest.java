package jsd.export.fuse;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A FUSE export's life over QMP and across daemon ends, with
 * qemu-storage-daemon 7.2's messages: mount point checks, query-block-exports,
 * safe delete (FUSE has no clients to wait for: an open file does not keep
 * the export) and hard delete, BLOCK_EXPORT_DELETED, re-adding on the same
 * file, unmounting at SIGTERM, and a restart over the dead mount a killed
 * daemon leaves behind.
 */
class FuseLifecycleTest {
    static JsdProcess jsd;
    static QmpClient qmp;
    static Path work;
    static Path image;

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-fuse-life-");
        image = work.resolve("x.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1 << 20);
            f.write("hello fuse".getBytes());
        }
        Files.createDirectory(work.resolve("dir"));
        jsd = JsdProcess.start("--object", "iothread,id=io0",
                "--blockdev", "file,node-name=f,filename=" + image,
                "--blockdev", "file,node-name=rof,filename=" + image + ",read-only=on");
        qmp = jsd.qmp();
    }

    @AfterAll
    static void stop() throws Exception {
        if (qmp != null) qmp.close();
        if (jsd != null) jsd.close();
        Tools.run(null, "rm", "-rf", work.toString());
    }

    static Map<String, Object> fuse(String id, String node, Path mountpoint, Object... more) {
        Map<String, Object> m = new HashMap<>(Map.of("type", "fuse", "id", id, "node-name", node,
                "mountpoint", mountpoint.toString()));
        for (int i = 0; i < more.length; i += 2) m.put((String) more[i], more[i + 1]);
        return m;
    }

    static String err(Map<String, Object> args) throws Exception {
        return qmp.error("block-export-add", args).get("desc").asText();
    }

    static Path newMountpoint(String name) throws IOException { return Files.createFile(work.resolve(name)); }

    static void awaitDeleted(String id) {
        JsonNode ev = qmp.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        assertNotNull(ev, "no BLOCK_EXPORT_DELETED for " + id);
        assertEquals(id, ev.get("data").get("id").asText());
    }

    static String readStart(Path p) throws IOException {
        return new String(Files.readAllBytes(p), 0, 10);
    }

    @Test
    void mountpointErrorsAreQsds() throws Exception {
        Path m = newMountpoint("errors");
        assertEquals("Failed to stat '" + work.resolve("nope") + "': No such file or directory",
                err(fuse("a", "f", work.resolve("nope"))));
        assertEquals("'" + work.resolve("dir") + "' is not a regular file", err(fuse("a", "f", work.resolve("dir"))));
        assertEquals("Cannot export read-only node as writable", err(fuse("a", "rof", m, "writable", true)));
        assertEquals("iothread \"nope\" not found", err(fuse("a", "f", m, "iothread", "nope")));
        qmp.ok("block-export-add", fuse("a", "f", m, "iothread", "io0", "fixed-iothread", true));
        assertEquals("There already is a FUSE export on '" + m + "'", err(fuse("b", "rof", m)));
        assertEquals("Block export id 'a' is already in use", err(fuse("a", "rof", newMountpoint("errors2"))));
        assertEquals("Parameter 'allow-other' does not accept value 'maybe'",
                err(fuse("c", "f", work.resolve("errors2"), "allow-other", "maybe")));
        assertEquals("[{\"id\":\"a\",\"type\":\"fuse\",\"node-name\":\"f\",\"shutting-down\":false}]",
                qmp.ok("query-block-exports", null).toString());
        qmp.ok("block-export-del", Map.of("id", "a"));
        awaitDeleted("a");
        assertFalse(FuseMounts.isMounted(m));
    }

    @Test
    void badCommandLinesAnswerLikeQsd() throws Exception {
        Path img = work.resolve("cli.img");
        Files.write(img, new byte[4096]);
        Path m = Files.createFile(work.resolve("cli-mnt"));
        String bd = "file,node-name=f,filename=" + img;
        String[][] lines = {
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f"},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + m + ",allow-other=maybe"},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + m + ",growable=x"},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + work.resolve("nope")},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + work.resolve("dir")},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + m + ",bogus=1"},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=nonode,mountpoint=" + m},
                {"--blockdev", bd + ",read-only=on", "--export", "fuse,id=e,node-name=f,mountpoint=" + m + ",writable=on"},
                {"--blockdev", bd, "--export", "fuse,id=e,node-name=f,mountpoint=" + m,
                        "--export", "fuse,id=e2,node-name=f,mountpoint=" + m},
        };
        for (String[] args : lines) {
            JsdProcess.Result j = JsdProcess.run(args);
            // jsd unmounts what it mounted before it exits on an error
            assertFalse(FuseMounts.isMounted(m), String.join(" ", args));
            JsdProcess.Result q = JsdProcess.runReference(args);
            // qsd exits without unmounting the export it had already set up: clean up after it
            if (FuseMounts.isMounted(m)) Tools.run(null, "umount", "-l", m.toString()).expectOk();
            assertEquals(q.output().replace("qemu-storage-daemon: ", "jsd: "), j.output(), String.join(" ", args));
            assertEquals(q.exitCode(), j.exitCode(), String.join(" ", args));
        }
    }

    @Test
    void safeDeleteWithAnOpenFileUnmountsAndTheFileGoesDead() throws Exception {
        Path m = newMountpoint("safe");
        qmp.ok("block-export-add", fuse("s", "f", m, "writable", true));
        assertTrue(FuseMounts.isMounted(m));
        assertEquals("hello fuse", readStart(m));
        FileChannel open = FileChannel.open(m, StandardOpenOption.READ);
        // (nothing is read through it before the delete: cached pages would still be served after)
        // as in qemu-storage-daemon, an open file is not a user: the safe delete goes ahead
        qmp.ok("block-export-del", Map.of("id", "s"));
        awaitDeleted("s");
        assertFalse(FuseMounts.isMounted(m));
        assertEquals(0, Files.size(m)); // the file underneath is back
        IOException e = assertThrows(IOException.class, () -> open.read(ByteBuffer.allocate(10), 0));
        assertTrue(e.getMessage().contains("Transport endpoint is not connected"), e.getMessage());
        // close(2) flushes, and the connection is gone: qemu-storage-daemon's files say the same
        IOException onClose = assertThrows(IOException.class, open::close);
        assertTrue(onClose.getMessage().contains("Transport endpoint is not connected"), onClose.getMessage());
        assertEquals("Export 's' is not found", qmp.error("block-export-del", Map.of("id", "s")).get("desc").asText());
        // the same mount point can be used again at once
        qmp.ok("block-export-add", fuse("s", "rof", m));
        assertEquals("hello fuse", readStart(m));
        qmp.ok("block-export-del", Map.of("id", "s", "mode", "hard"));
        awaitDeleted("s");
        assertFalse(FuseMounts.isMounted(m));
        assertEquals(0, qmp.ok("query-block-exports", null).size());
    }

    @Test
    void anImageCanBeMountedOverItself() throws Exception {
        // the daemon keeps the image open from before the mount and never looks it up by name again
        Path img = work.resolve("self.img");
        Files.write(img, new byte[1 << 20]);
        qmp.ok("blockdev-add", Map.of("driver", "file", "node-name", "self", "filename", img.toString()));
        qmp.ok("block-export-add", fuse("self", "self", img, "writable", true));
        Tools.run(work, 30, java.util.List.of("bash", "-c", "echo hello > " + img + " && stat -c '%s %b' " + img
                + " && head -c 5 " + img)).expectOk();
        assertEquals(1L << 20, Files.size(img));
        qmp.ok("block-export-del", Map.of("id", "self"));
        awaitDeleted("self");
        qmp.ok("blockdev-del", Map.of("node-name", "self"));
        assertEquals("hello", new String(Files.readAllBytes(img), 0, 5));
    }

    @Test
    void hardDeleteWhileAClientWorks() throws Exception {
        Path m = newMountpoint("hard");
        qmp.ok("block-export-add", fuse("h", "f", m, "writable", true));
        // O_DIRECT reads through one open file, none served from the page cache, until one fails
        String script = """
                import os, mmap, sys
                fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
                buf = mmap.mmap(-1, 4096)
                n = 0
                while True:
                    try:
                        os.preadv(fd, [buf], (n % 256) * 4096)
                    except OSError as e:
                        print(e.strerror, n > 100, flush=True)
                        break
                    n += 1
                    if n == 100:
                        print('reading', flush=True)
                """;
        Process reader = new ProcessBuilder("python3", "-c", script, m.toString()).redirectErrorStream(true).start();
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(reader.getInputStream()));
        assertEquals("reading", out.readLine());
        qmp.ok("block-export-del", Map.of("id", "h", "mode", "hard"));
        awaitDeleted("h");
        assertFalse(FuseMounts.isMounted(m));
        assertTrue(reader.waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "reader still blocked after the delete");
        // ENOTCONN, or ECONNABORTED for a read the kernel had queued when the connection went
        String end = out.readLine();
        assertTrue(end.equals("Transport endpoint is not connected True") || end.equals("Software caused connection abort True"), end);
        assertEquals(0, qmp.ok("query-block-exports", null).size());
    }

    @Test
    void sigtermUnmountsAndAKilledDaemonsMountIsReplacedOnRestart() throws Exception {
        Path m = newMountpoint("restart");
        String[] args = {"--blockdev", "file,node-name=f,filename=" + work.resolve("other.img"),
                "--export", "fuse,id=e,node-name=f,mountpoint=" + m + ",writable=on"};
        try (RandomAccessFile f = new RandomAccessFile(work.resolve("other.img").toFile(), "rw")) {
            f.setLength(2 << 20);
        }
        try (JsdProcess d = JsdProcess.start(args); QmpClient q = d.qmp()) {
            q.ok("query-block-exports", null);
            assertTrue(FuseMounts.isMounted(m));
            d.process().destroy(); // SIGTERM
            assertEquals(0, d.waitFor(15));
            assertFalse(FuseMounts.isMounted(m));
        }
        try (JsdProcess d = JsdProcess.start(args); QmpClient q = d.qmp()) {
            q.ok("query-block-exports", null);
            d.process().destroyForcibly(); // SIGKILL: the mount stays, dead
            d.waitFor(15);
            assertTrue(FuseMounts.isMounted(m));
            IOException e = assertThrows(IOException.class, () -> Files.size(m));
            assertTrue(e.getMessage().contains("Transport endpoint is not connected"), e.getMessage());
        }
        try (JsdProcess d = JsdProcess.start(args); QmpClient q = d.qmp()) {
            q.ok("query-block-exports", null);
            assertEquals(2L << 20, Files.size(m));
            q.ok("quit", null);
            assertEquals(0, d.waitFor(15));
        }
        // the dead mount was detached, not stacked under the new one: nothing is left
        assertFalse(FuseMounts.isMounted(m));
        assertEquals(0, Files.size(m));
    }
}
