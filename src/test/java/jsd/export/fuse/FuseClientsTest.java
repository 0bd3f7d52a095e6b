package jsd.export.fuse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FUSE exports against real programs working on the mounted file: qemu-img,
 * qemu-io, dd/cat/cmp, fio with verification, truncate, fallocate, lseek
 * SEEK_DATA/SEEK_HOLE. One daemon serves six exports, each test using its
 * own (or its own region of one). Expected behaviour is qemu-storage-daemon
 * 7.2's, checked by hand against it (see README).
 */
class FuseClientsTest {
    static final long SIZE = 8L << 20;
    static JsdProcess jsd;
    static QmpClient qmp;
    static Path work;

    static Path image(String name) { return work.resolve(name + ".img"); }

    static Path mount(String name) { return work.resolve("mnt-" + name); }

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-fuse-clients-");
        for (String n : new String[] {"data", "sparse", "ro", "grow", "fixed"}) Files.createFile(mount(n));
        Files.createFile(mount("q"));
        try (RandomAccessFile f = new RandomAccessFile(image("data").toFile(), "rw")) {
            byte[] b = new byte[(int) SIZE];
            new Random(1).nextBytes(b);
            f.write(b);
        }
        try (RandomAccessFile f = new RandomAccessFile(image("sparse").toFile(), "rw")) {
            f.setLength(SIZE);
            byte[] b = new byte[64 << 10];
            new Random(2).nextBytes(b);
            f.seek(1 << 20);
            f.write(b);
            f.seek(4 << 20);
            for (int i = 0; i < 16; i++) f.write(b);
        }
        try (RandomAccessFile f = new RandomAccessFile(image("ro").toFile(), "rw")) {
            byte[] b = new byte[1 << 20];
            new Random(3).nextBytes(b);
            f.write(b);
        }
        try (RandomAccessFile f = new RandomAccessFile(image("grow").toFile(), "rw")) {
            f.setLength(64 << 10);
        }
        try (RandomAccessFile f = new RandomAccessFile(image("fixed").toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        Path qcow2 = work.resolve("q.qcow2");
        Tools.run(work, "qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "4M").expectOk();
        Tools.run(work, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", qcow2.toString()).expectOk();
        jsd = JsdProcess.start(
                "--blockdev", "file,node-name=data,filename=" + image("data"),
                "--blockdev", "file,node-name=sparse,filename=" + image("sparse"),
                "--blockdev", "file,node-name=ro,filename=" + image("ro") + ",read-only=on",
                "--blockdev", "file,node-name=grow,filename=" + image("grow"),
                "--blockdev", "file,node-name=fixed,filename=" + image("fixed"),
                "--blockdev", "file,node-name=qf,filename=" + qcow2,
                "--blockdev", "qcow2,node-name=q,file=qf",
                "--export", "fuse,id=data,node-name=data,mountpoint=" + mount("data") + ",writable=on",
                "--export", "fuse,id=sparse,node-name=sparse,mountpoint=" + mount("sparse") + ",writable=on",
                "--export", "fuse,id=ro,node-name=ro,mountpoint=" + mount("ro"),
                "--export", "fuse,id=grow,node-name=grow,mountpoint=" + mount("grow") + ",writable=on,growable=on",
                "--export", "fuse,id=fixed,node-name=fixed,mountpoint=" + mount("fixed") + ",writable=on",
                "--export", "fuse,id=q,node-name=q,mountpoint=" + mount("q") + ",writable=on");
        qmp = jsd.qmp();
        // commands run once start-up is complete: every export is mounted by now
        assertEquals(6, qmp.ok("query-block-exports", null).size());
    }

    @AfterAll
    static void stop() throws Exception {
        if (qmp != null) qmp.close();
        if (jsd != null) jsd.close();
        for (String n : new String[] {"data", "sparse", "ro", "grow", "fixed", "q"}) {
            assertTrue(!FuseMounts.isMounted(mount(n)), "still mounted after the daemon ended: " + mount(n));
        }
        Tools.run(null, "rm", "-rf", work.toString());
    }

    static Tools.Output sh(String script) throws Exception {
        return Tools.run(work, 120, java.util.List.of("bash", "-c", script));
    }

    static byte[] readRegion(Path file, long offset, int length) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            byte[] b = new byte[length];
            f.seek(offset);
            f.readFully(b);
            return b;
        }
    }

    @Test
    void qemuImgSeesARawImageOfTheNodesSize() throws Exception {
        JsonNode info = new ObjectMapper().readTree(
                Tools.run(work, "qemu-img", "info", "--output=json", mount("data").toString()).expectOk().stdout());
        assertEquals(SIZE, info.get("virtual-size").asLong());
        assertEquals("raw", info.get("format").asText());
        Tools.run(work, "qemu-img", "compare", "-U", "-f", "raw", "-F", "raw", image("data").toString(),
                mount("data").toString()).expectOk();
        Path copy = work.resolve("converted.img");
        Tools.run(work, "qemu-img", "convert", "-f", "raw", "-O", "raw", mount("data").toString(), copy.toString()).expectOk();
        sh("cmp " + copy + " " + image("data")).expectOk();
        Files.delete(copy);
    }

    @Test
    void qemuIoPatternsAtUnalignedOffsets() throws Exception {
        String m = mnt("data").toString();
        Tools.run(work, "qemu-io", "-f", "raw",
                "-c", "write -P 0xab 4097 5000",
                "-c", "write -P 0xcd 1000001 70001",
                "-c", "write -P 0xef 2097151 1048577",
                "-c", "read -P 0xab 4097 5000",
                "-c", "read -P 0xcd 1000001 70001",
                "-c", "read -P 0xef 2097151 1048577", m).expectOk();
        byte[] a = readRegion(image("data"), 4097, 5000);
        byte[] want = new byte[5000];
        Arrays.fill(want, (byte) 0xab);
        assertArrayEquals(want, a);
        byte[] c = readRegion(image("data"), 2097151, 1048577);
        byte[] wantC = new byte[1048577];
        Arrays.fill(wantC, (byte) 0xef);
        assertArrayEquals(wantC, c);
        // the bytes around a write are untouched
        Tools.Output o = Tools.run(work, "qemu-io", "-f", "raw", "-c", "read -v 4096 1", "-c", "read -v 9097 1", m).expectOk();
        byte[] edges = readRegion(image("data"), 4096, 1);
        assertTrue(o.stdout().contains(String.format("%02x", edges[0] & 0xff)), o.stdout());
        // written through the mount, read back through the mount in a fresh process: no stale cache
        Tools.run(work, "qemu-io", "-f", "raw", "-c", "read -P 0xcd 1000001 70001", m).expectOk();
    }

    @Test
    void ddCatAndCmpAgreeWithTheImage() throws Exception {
        String m = mnt("data");
        Path src = work.resolve("src.bin");
        byte[] b = new byte[3 << 20];
        new Random(11).nextBytes(b);
        Files.write(src, b);
        sh("dd if=" + src + " of=" + m + " bs=1M seek=3 conv=notrunc,fsync status=none").expectOk();
        assertArrayEquals(b, readRegion(image("data"), 3 << 20, b.length));
        sh("cmp -i 0:3145728 -n 3145728 " + src + " " + m).expectOk();
        Path copy = work.resolve("cat.img");
        sh("cat " + m + " > " + copy + " && cmp " + copy + " " + image("data")).expectOk();
        Files.delete(copy);
        Files.delete(src);
    }

    static String mnt(String name) { return mount(name).toString(); }

    @Test
    void fioVerifiesItsWrites() throws Exception {
        for (String direct : new String[] {"0", "1"}) {
            Tools.Output o = Tools.run(work, 300, java.util.List.of("fio", "--name=verify", "--filename=" + mount("data"),
                    "--ioengine=psync", "--rw=randwrite", "--bs=4k", "--offset=6M", "--size=1M", "--direct=" + direct,
                    "--verify=crc32c", "--do_verify=1", "--numjobs=1", "--randrepeat=0"));
            o.expectOk();
            assertTrue(o.stdout().contains("err= 0"), o.stdout());
        }
    }

    @Test
    void truncateWithoutGrowableResizesLikeQsdButWritesStopAtTheEnd() throws Exception {
        String m = mnt("fixed");
        // qemu-storage-daemon 7.2 lets truncate change the size of any writable export
        sh("truncate -s 2M " + m).expectOk();
        assertEquals(2L << 20, Files.size(image("fixed")));
        assertEquals(2L << 20, Files.size(mount("fixed")));
        sh("truncate -s 1M " + m).expectOk();
        assertEquals(1L << 20, Files.size(image("fixed")));
        // a write across the end is cut short, which the kernel turns into EIO
        Tools.Output o = sh("dd if=/dev/urandom of=" + m + " bs=4k seek=255 count=2 conv=notrunc status=none");
        assertNotEquals(0, o.exitCode());
        assertTrue(o.stderr().contains("Input/output error"), o.stderr());
        assertEquals(1L << 20, Files.size(image("fixed")));
    }

    @Test
    void growableExportsGrowOnWritesPastTheEnd() throws Exception {
        String m = mnt("grow");
        sh("dd if=/dev/urandom of=" + m + " bs=4k seek=100 count=3 conv=notrunc status=none").expectOk();
        assertEquals(103L * 4096, Files.size(image("grow")));
        assertEquals(103L * 4096, Files.size(mount("grow")));
        sh("truncate -s 200k " + m).expectOk();
        assertEquals(200L << 10, Files.size(image("grow")));
        // plain fallocate at the end grows the image; inside it there is nothing to allocate (EOPNOTSUPP)
        sh("fallocate -o 200k -l 56k " + m).expectOk();
        assertEquals(256L << 10, Files.size(image("grow")));
        Tools.Output o = sh("fallocate -o 0 -l 4k " + m);
        assertTrue(o.stderr().contains("Operation not supported"), o.stderr());
        // the grown part reads back as zeroes
        sh("cmp -n 57344 -i 204800:0 " + m + " /dev/zero").expectOk();
    }

    @Test
    void fallocatePunchAndZeroReadBackAsZeroes() throws Exception {
        String m = mnt("data");
        long base = 5L << 20;
        sh("dd if=/dev/urandom of=" + m + " bs=64k count=4 seek=80 conv=notrunc status=none").expectOk();
        sh("fallocate -p -o " + (base + 4096) + " -l 65536 " + m).expectOk();
        sh("fallocate -z -o " + (base + 131072 + 1) + " -l 10000 " + m).expectOk();
        assertArrayEquals(new byte[65536], readRegion(image("data"), base + 4096, 65536));
        assertArrayEquals(new byte[10000], readRegion(image("data"), base + 131073, 10000));
        sh("cmp -n 65536 -i " + (base + 4096) + ":0 " + m + " /dev/zero").expectOk();
        sh("cmp -n 10000 -i " + (base + 131073) + ":0 " + m + " /dev/zero").expectOk();
        // around the holes the data is intact
        byte[] before = readRegion(image("data"), base, 4096);
        assertNotEquals(0, sum(before));
        assertEquals(SIZE, Files.size(image("data")));
    }

    static long sum(byte[] b) {
        long s = 0;
        for (byte x : b) s += x & 0xff;
        return s;
    }

    @Test
    void seekDataAndSeekHoleFollowTheImage() throws Exception {
        // the image file's own answers are the oracle: the export reports its block status
        String script = """
                import os, sys
                out = []
                for p in sys.argv[1:]:
                    fd = os.open(p, os.O_RDONLY)
                    res = []
                    for off in (0, 4096, 1048576, 1048577, 1114111, 1114112, 3145728, 4194304, 5242879, 5242880, 8388607, 8388608, 8388609):
                        for w in (os.SEEK_DATA, os.SEEK_HOLE):
                            try:
                                res.append(os.lseek(fd, off, w))
                            except OSError as e:
                                res.append(-e.errno)
                    out.append(res)
                    os.close(fd)
                print(out[0])
                print(out[1])
                """;
        Path py = work.resolve("seek.py");
        Files.writeString(py, script);
        String[] lines = Tools.run(work, "python3", py.toString(), image("sparse").toString(), mount("sparse").toString())
                .expectOk().stdout().split("\n");
        // like qemu-storage-daemon, the end of the image counts as a hole (ext4 says ENXIO there)
        String fileAnswers = lines[0].replace("8388607, -6, -6, -6, -6]", "8388607, -6, 8388608, -6, -6]");
        assertEquals(fileAnswers, lines[1]);
        assertTrue(lines[1].endsWith("8388607, -6, 8388608, -6, -6]"), lines[1]);
        assertTrue(lines[1].startsWith("[1048576, 0, 1048576, 4096, 1048576, 1114112"), lines[1]);
        String map = Tools.run(work, "qemu-img", "map", "--output=json", "-f", "raw", mount("sparse").toString())
                .expectOk().stdout();
        JsonNode extents = new ObjectMapper().readTree(map);
        StringBuilder dataRanges = new StringBuilder();
        for (JsonNode e : extents) {
            if (e.get("data").asBoolean()) dataRanges.append(e.get("start").asLong()).append('+').append(e.get("length").asLong()).append(' ');
        }
        assertEquals("1048576+65536 4194304+1048576 ", dataRanges.toString(), map);
    }

    @Test
    void readOnlyExportRefusesWrites() throws Exception {
        String m = mnt("ro");
        assertEquals("400", sh("stat -c %a " + m).expectOk().stdout().trim());
        sh("cmp " + m + " " + image("ro")).expectOk();
        Tools.Output dd = sh("dd if=/dev/zero of=" + m + " bs=4k count=1 conv=notrunc status=none");
        assertTrue(dd.stderr().contains("Permission denied"), dd.stderr());
        Tools.Output tr = sh("truncate -s 2M " + m);
        assertTrue(tr.stderr().contains("Permission denied"), tr.stderr());
        Tools.Output fa = sh("fallocate -z -l 4k " + m);
        assertTrue(fa.stderr().contains("Permission denied"), fa.stderr());
        Tools.Output ch = sh("chmod 600 " + m);
        assertTrue(ch.stderr().contains("Read-only file system"), ch.stderr());
        sh("chmod 444 " + m).expectOk();
        assertEquals("444", sh("stat -c %a " + m).expectOk().stdout().trim());
        sh("chmod 400 " + m).expectOk();
        sh("cmp " + m + " " + image("ro")).expectOk();
    }

    @Test
    void inodeAttributesChangeInMemoryOnly() throws Exception {
        String m = mnt("fixed");
        assertEquals("600 0 0 regular file", sh("stat -c '%a %u %g %F' " + m).expectOk().stdout().trim());
        sh("chmod 640 " + m + " && chown 1:2 " + m).expectOk();
        assertEquals("640 1 2", sh("stat -c '%a %u %g' " + m).expectOk().stdout().trim());
        Tools.Output touch = sh("touch " + m);
        assertTrue(touch.stderr().contains("Operation not supported"), touch.stderr());
        sh("chmod 600 " + m + " && chown 0:0 " + m).expectOk();
        // the image file itself is untouched
        assertEquals("644", sh("stat -c %a " + image("fixed")).expectOk().stdout().trim());
    }

    @Test
    void qcow2ExportShowsTheGuestView() throws Exception {
        String m = mnt("q");
        Path qcow2 = work.resolve("q.qcow2");
        assertEquals(4L << 20, Files.size(mount("q")));
        Tools.run(work, "qemu-io", "-f", "raw", "-c", "read -P 0x5a 1M 64k", "-c", "read -P 0 0 1M",
                "-c", "write -P 0x33 3M 5000", m).expectOk();
        sh("sync " + m).expectOk();
        Tools.run(work, "qemu-img", "compare", "-U", "-f", "raw", "-F", "qcow2", m, qcow2.toString()).expectOk();
        Tools.run(work, "qemu-io", "-U", "-r", "-f", "qcow2", "-c", "read -P 0x33 3M 5000", qcow2.toString()).expectOk();
    }
}
