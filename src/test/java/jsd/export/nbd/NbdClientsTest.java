package jsd.export.nbd;

import jsd.testing.JsdProcess;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * jsd's NBD server against the real clients (qemu-img, qemu-io, nbdinfo,
 * nbdcopy, fio), and what it advertises compared with qemu-storage-daemon
 * serving a copy of the same image.
 */
class NbdClientsTest {
    static final long SIZE = 64L << 20;
    static JsdProcess jsd;
    static JsdProcess qsd;
    static Path work;
    static String uri;
    static String qsdUri;

    /** A sparse image: a greeting, 2 MiB of random data at 8 MiB, holes elsewhere. */
    static void makeImage(Path p) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(SIZE);
            f.write("hello world".getBytes());
            byte[] data = new byte[2 << 20];
            new Random(7).nextBytes(data);
            f.seek(8 << 20);
            f.write(data);
        }
    }

    static String[] serverArgs(Path image, Path sock) {
        return new String[] {
                "--blockdev", "file,node-name=f,filename=" + image,
                "--blockdev", "raw,node-name=r,file=f",
                "--nbd-server", "addr.type=unix,addr.path=" + sock,
                "--export", "nbd,id=e,node-name=r,name=disk,writable=on,allocation-depth=on,description=test disk",
                "--export", "nbd,id=ro,node-name=f,name=ro",
        };
    }

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-nbd-clients-");
        makeImage(work.resolve("a.img"));
        makeImage(work.resolve("b.img"));
        jsd = JsdProcess.start(serverArgs(work.resolve("a.img"), work.resolve("a.sock")));
        qsd = JsdProcess.startReference(serverArgs(work.resolve("b.img"), work.resolve("b.sock")));
        jsd.awaitSocket(work.resolve("a.sock"));
        qsd.awaitSocket(work.resolve("b.sock"));
        uri = "nbd+unix:///disk?socket=" + work.resolve("a.sock");
        qsdUri = "nbd+unix:///disk?socket=" + work.resolve("b.sock");
    }

    @AfterAll
    static void stop() throws Exception {
        if (jsd != null) jsd.close();
        if (qsd != null) qsd.close();
        try (var s = Files.list(work)) {
            for (Path p : s.toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(work);
    }

    static String run(String... cmd) throws Exception {
        return Tools.run(work, cmd).expectOk().stdout();
    }

    @Test
    void nbdinfoMatchesTheReference() throws Exception {
        String j = run("nbdinfo", "--json", uri).replace(work.resolve("a.sock").toString(), "SOCK");
        String q = run("nbdinfo", "--json", qsdUri).replace(work.resolve("b.sock").toString(), "SOCK");
        assertEquals(q, j);
        assertTrue(j.contains("\"can_multi_conn\": true") && j.contains("\"can_fast_zero\": true")
                && j.contains("\"qemu:allocation-depth\"") && j.contains("\"block_size_maximum\": 33554432"), j);
        String listJ = run("nbdinfo", "--list", "--json", "nbd+unix://?socket=" + work.resolve("a.sock"))
                .replace(work.resolve("a.sock").toString(), "SOCK");
        String listQ = run("nbdinfo", "--list", "--json", "nbd+unix://?socket=" + work.resolve("b.sock"))
                .replace(work.resolve("b.sock").toString(), "SOCK");
        assertEquals(listQ, listJ);
        assertTrue(listJ.contains("\"export-name\": \"ro\"") && listJ.contains("\"is_read_only\": true"), listJ);
    }

    @Test
    void mapsMatchTheReference() throws Exception {
        String map = run("nbdinfo", "--map", uri);
        assertEquals(run("nbdinfo", "--map", qsdUri), map);
        assertTrue(map.contains("8388608     2097152    0  data"), map);
        assertEquals(run("nbdinfo", "--map=qemu:allocation-depth", qsdUri), run("nbdinfo", "--map=qemu:allocation-depth", uri));
        assertEquals(run("nbdinfo", "--map", "--totals", qsdUri), run("nbdinfo", "--map", "--totals", uri));
    }

    @Test
    void qemuImgInfoConvertCompare() throws Exception {
        String info = run("qemu-img", "info", "--output=json", uri);
        assertTrue(info.contains("\"virtual-size\": 67108864"), info);
        run("qemu-img", "compare", "-f", "raw", "-F", "raw", work.resolve("b.img").toString(), uri);
        run("qemu-img", "convert", "-O", "raw", uri, work.resolve("conv.img").toString());
        assertArrayEquals(Files.readAllBytes(work.resolve("b.img")), Files.readAllBytes(work.resolve("conv.img")));
        Files.delete(work.resolve("conv.img"));
    }

    @Test
    void qemuIoPatternsAtUnalignedOffsets() throws Exception {
        String roUri = "nbd+unix:///ro?socket=" + work.resolve("a.sock");
        String out = run("qemu-io", "-f", "raw",
                "-c", "write -P 0xa5 40000001 77777",
                "-c", "read -P 0xa5 40000001 77777",
                "-c", "read -P 0 40077778 1000",
                "-c", "write -z 41000003 500001",
                "-c", "read -P 0 41000003 500001",
                "-c", "write -P 0x3c -f 42000000 4097",
                "-c", "read -P 0x3c 42000000 4097",
                "-c", "aio_write -P 0x11 43000000 65536",
                "-c", "aio_write -P 0x22 43100000 65536",
                "-c", "aio_flush",
                "-c", "read -P 0x11 43000000 65536",
                "-c", "read -P 0x22 43100000 65536",
                "-c", "discard 50331648 1048576",
                "-c", "read -P 0 50331648 1048576",
                "-c", "flush", uri);
        assertTrue(!out.contains("Pattern verification failed") && !out.contains("error"), out);
        // a read-only export cannot be opened for writing (the client sees NBD_FLAG_READ_ONLY)
        Tools.Output w = Tools.run(work, "qemu-io", "-f", "raw", "-c", "write 0 512", roUri);
        assertTrue(w.stderr().contains("Permission denied"), w.toString());
        run("qemu-io", "-r", "-f", "raw", "-c", "read -P 0 1048576 4096", roUri);
    }

    @Test
    void nbdcopyRoundTrip() throws Exception {
        Path out = work.resolve("copy.img");
        run("nbdcopy", uri, out.toString());
        assertEquals(SIZE, Files.size(out));
        String back = "nbd+unix:///disk?socket=" + work.resolve("a.sock");
        run("nbdcopy", "--flush", out.toString(), back);
        run("qemu-img", "compare", "-f", "raw", out.toString(), uri);
        Files.delete(out);
    }

    @Test
    void fioVerifiesCrc32c() throws Exception {
        for (String rw : List.of("randwrite", "write")) {
            String out = run("fio", "--name=v", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw, "--bs=4k,64k",
                    "--offset=16m", "--size=8m", "--iodepth=32", "--verify=crc32c", "--do_verify=1",
                    "--verify_fatal=1", "--output-format=terse");
            String terse = out.lines().filter(l -> l.startsWith("3;")).findFirst().orElseThrow(() -> new AssertionError(out));
            assertEquals("0", terse.split(";")[4], "fio errors: " + out);
        }
    }
}
