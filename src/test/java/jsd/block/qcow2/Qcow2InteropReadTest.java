package jsd.block.qcow2;

import jsd.block.BlockNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Images made by qemu-img (convert/create, every cluster size, v2/v3, compressed) read correctly in jsd. */
class Qcow2InteropReadTest {
    static Qcow2Fixture fx;
    static byte[] source;
    static final int SIZE = 6 * 1024 * 1024 + 1536; // not a multiple of any cluster size above 512

    @BeforeAll
    static void makeSource() throws Exception {
        fx = new Qcow2Fixture();
        source = new byte[SIZE];
        Random r = new Random(42);
        // a mix: random data, zeroed stretches, text-like (compressible) runs, a gap left as a hole
        for (int pos = 0; pos < SIZE; ) {
            int len = Math.min(SIZE - pos, 512 * (1 + r.nextInt(300)));
            switch (r.nextInt(4)) {
                case 0 -> { for (int i = 0; i < len; i++) source[pos + i] = (byte) r.nextInt(); }
                case 1 -> { } // zeroes
                case 2 -> { for (int i = 0; i < len; i++) source[pos + i] = (byte) ('a' + (i % 23)); }
                default -> { for (int i = 0; i < len; i += 512) source[pos + i] = (byte) (i / 512 + 1); }
            }
            pos += len;
        }
        Files.write(fx.path("source.raw"), source);
    }

    @AfterAll
    static void cleanup() throws Exception { fx.close(); }

    @ParameterizedTest
    @CsvSource({
            "512,0.10,", "512,1.1,", "4096,0.10,", "4096,1.1,", "65536,0.10,", "65536,1.1,",
            "2097152,0.10,", "2097152,1.1,", "65536,1.1,-c", "4096,0.10,-c", "2097152,1.1,-c",
    })
    void convertedImagesRead(int clusterSize, String compat, String compress) throws Exception {
        String name = "c" + clusterSize + "-" + compat + (compress == null ? "" : "-z") + ".qcow2";
        var args = new java.util.ArrayList<>(java.util.List.of("convert", "-f", "raw", "-O", "qcow2",
                "-o", "cluster_size=" + clusterSize + ",compat=" + compat));
        if (compress != null) args.add(compress);
        args.add("source.raw");
        args.add(name);
        fx.qemuImg(args.toArray(String[]::new)).expectOk();
        BlockNode n = fx.openQcow2("n", name, "'read-only':true");
        try {
            assertEquals(SIZE, n.size());
            Qcow2Fixture.assertSameBytes(source, Qcow2Fixture.readAll(n), name);
            // unaligned reads across cluster boundaries
            Random r = new Random(clusterSize);
            for (int i = 0; i < 50; i++) {
                int off = r.nextInt(SIZE - 1);
                int len = 1 + r.nextInt(Math.min(SIZE - off, 3 * clusterSize + 777));
                ByteBuffer b = ByteBuffer.allocate(len);
                n.read(off, b);
                for (int k = 0; k < len; k++) {
                    if (b.get(k) != source[off + k]) throw new AssertionError(name + ": differs at " + (off + k));
                }
            }
            assertEquals(fx.qemuMap(name), Qcow2Fixture.statusMap(n), name + ": block status vs qemu-img map");
        } finally {
            fx.close(n);
        }
    }

    @Test
    void zstdCompressedImage() throws Exception {
        fx.qemuImg("convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd",
                "source.raw", "zstd.qcow2").expectOk();
        BlockNode n = fx.openQcow2("z", "zstd.qcow2", "'read-only':true");
        try {
            Qcow2Fixture.assertSameBytes(source, Qcow2Fixture.readAll(n), "zstd");
            ObjectNodeHolder h = new ObjectNodeHolder();
            n.describe(h.o);
            assertEquals("zstd", h.o.get("format-specific").get("data").get("compression-type").asText());
        } finally {
            fx.close(n);
        }
    }

    @Test
    void extendedL2Image() throws Exception {
        fx.qemuImg("create", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=65536", "ext.qcow2", "4M").expectOk();
        // subcluster-sized writes leave clusters partly allocated; a zeroed subcluster sets a zero bit
        fx.qemuImg("convert", "-f", "raw", "-O", "qcow2", "-o", "extended_l2=on", "source.raw", "extfull.qcow2").expectOk();
        var io = fx.qemuImgIo("ext.qcow2", "write -P 0x11 0 2048", "write -P 0x22 70000 5000",
                "write -z 131072 8192", "write -P 0x33 196608 65536");
        assertEquals(0, io.exitCode(), io.stderr());
        BlockNode n = fx.openQcow2("e", "ext.qcow2", "'read-only':true");
        try {
            byte[] all = Qcow2Fixture.readAll(n);
            byte[] expect = new byte[4 << 20];
            java.util.Arrays.fill(expect, 0, 2048, (byte) 0x11);
            java.util.Arrays.fill(expect, 70000, 75000, (byte) 0x22);
            java.util.Arrays.fill(expect, 196608, 262144, (byte) 0x33);
            Qcow2Fixture.assertSameBytes(expect, all, "extended L2");
            assertEquals(fx.qemuMap("ext.qcow2"), Qcow2Fixture.statusMap(n), "extended L2 map");
        } finally {
            fx.close(n);
        }
        BlockNode f = fx.openQcow2("f", "extfull.qcow2", "'read-only':true");
        try {
            Qcow2Fixture.assertSameBytes(source, Qcow2Fixture.readAll(f), "extended L2 converted");
        } finally {
            fx.close(f);
        }
    }

    @Test
    void backingChainReadsAndDepth() throws Exception {
        fx.qemuImg("convert", "-f", "raw", "-O", "qcow2", "source.raw", "base.qcow2").expectOk();
        fx.qemuImg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2").expectOk();
        fx.qemuImg("create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2").expectOk();
        assertEquals(0, fx.qemuImgIo("mid.qcow2", "write -P 0x5a 65536 131072").exitCode());
        assertEquals(0, fx.qemuImgIo("top.qcow2", "write -P 0xa5 0 4096", "write -z 1048576 65536").exitCode());
        byte[] expect = source.clone();
        java.util.Arrays.fill(expect, 65536, 65536 + 131072, (byte) 0x5a);
        java.util.Arrays.fill(expect, 0, 4096, (byte) 0xa5);
        java.util.Arrays.fill(expect, 1048576, 1048576 + 65536, (byte) 0);
        BlockNode n = fx.openQcow2("top", "top.qcow2", "'read-only':true");
        try {
            assertTrue(n.backing() != null && n.backing().backing() != null, "chain opened from the headers");
            Qcow2Fixture.assertSameBytes(expect, Qcow2Fixture.readAll(n), "chain");
            assertEquals(fx.qemuMap("top.qcow2"), Qcow2Fixture.statusMap(n), "chain map");
            assertEquals(1, n.blockStatus(0, 4096).depth());
            assertEquals(2, n.blockStatus(65536, 4096).depth());
        } finally {
            fx.close(n);
        }
        BlockNode alone = fx.openQcow2("alone", "top.qcow2", "'read-only':true,'backing':null");
        try {
            byte[] all = Qcow2Fixture.readAll(alone);
            byte[] only = new byte[SIZE];
            System.arraycopy(expect, 0, only, 0, 65536); // qemu-io's 4 KiB write copied the rest of the cluster up
            Qcow2Fixture.assertSameBytes(only, all, "backing null");
            assertEquals(0, alone.blockStatus(65536, 4096).depth());
        } finally {
            fx.close(alone);
        }
    }

    private static final class ObjectNodeHolder {
        final com.fasterxml.jackson.databind.node.ObjectNode o = Qcow2Fixture.obj();
    }
}
