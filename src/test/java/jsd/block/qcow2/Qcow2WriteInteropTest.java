package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.block.BlockNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Images written by jsd, checked by qemu-img; structural growth; features jsd refuses. */
class Qcow2WriteInteropTest {
    static Qcow2Fixture fx;

    @BeforeAll
    static void setUp() throws Exception { fx = new Qcow2Fixture(); }

    @AfterAll
    static void tearDown() throws Exception { fx.close(); }

    /** 512-byte clusters: 24 MiB of writes need many new refcount blocks and several bigger refcount tables. */
    @Test
    void refcountStructuresGrow() throws Exception {
        fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=512", "grow.qcow2", "24M").expectOk();
        BlockNode n = fx.openQcow2("g", "grow.qcow2", "");
        byte[] model = new byte[24 << 20];
        new Random(7).nextBytes(model);
        for (int off = 0; off < model.length; off += 1 << 20) n.write(off, ByteBuffer.wrap(model, off, 1 << 20), 0);
        Qcow2Fixture.assertSameBytes(model, Qcow2Fixture.readAll(n), "grown");
        fx.close(n);
        fx.assertClean("grow.qcow2");
        Files.write(fx.path("grow.raw"), model);
        fx.qemuImg("compare", "grow.qcow2", "grow.raw").expectOk();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 8, 32, 64})
    void refcountWidths(int bits) throws Exception {
        String name = "rc" + bits + ".qcow2";
        fx.qemuImg("create", "-f", "qcow2", "-o", "refcount_bits=" + bits + ",cluster_size=4096", name, "8M").expectOk();
        BlockNode n = fx.openQcow2("r", name, "'discard':'unmap'");
        byte[] model = new byte[8 << 20];
        Random r = new Random(bits);
        for (int i = 0; i < 200; i++) {
            int off = r.nextInt(model.length - 20000);
            byte[] d = new byte[1 + r.nextInt(20000)];
            r.nextBytes(d);
            n.write(off, ByteBuffer.wrap(d), 0);
            System.arraycopy(d, 0, model, off, d.length);
            if (i % 10 == 0) {
                n.discard(off, 16384);
                for (long p = (off + 4095) / 4096 * 4096; p < (off + 16384) / 4096 * 4096; p++) model[(int) p] = 0;
            }
        }
        fx.close(n);
        fx.assertClean(name);
        Files.write(fx.path(name + ".raw"), model);
        fx.qemuImg("compare", name, name + ".raw").expectOk();
    }

    @Test
    void growingTheDiskGrowsTheL1Table() throws Exception {
        fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", "resize.qcow2", "1M").expectOk();
        BlockNode n = fx.openQcow2("t", "resize.qcow2", "");
        n.write(4096, ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
        n.truncate(64L << 20); // 4 KiB clusters: one L2 table maps 2 MiB, so the L1 table must grow
        assertEquals(64L << 20, n.size());
        n.write((64L << 20) - 3, ByteBuffer.wrap(new byte[] {4, 5, 6}), 0);
        assertThrows(BlockException.class, () -> n.truncate(1 << 20));
        fx.close(n);
        fx.assertClean("resize.qcow2");
        String info = fx.qemuImg("info", "--output=json", fx.path("resize.qcow2").toString()).expectOk().stdout();
        assertEquals(64L << 20, Qcow2Fixture.JSON.readTree(info).get("virtual-size").asLong());
        assertEquals(0, fx.qemuImgIo("resize.qcow2", "read -P 4 67108861 1", "read -P 3 4098 1", "read -P 0 8192 4096").exitCode());
    }

    /**
     * With 512-byte clusters an L1 table for 1 GiB needs 512 contiguous
     * clusters, more than fit between two refcount blocks: growing that far
     * must fail with an error (it once searched forever) and leave the image intact.
     */
    @Test
    void growingBeyondWhatTheAllocatorCanPlaceFailsCleanly() throws Exception {
        fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=512", "tiny.qcow2", "1M").expectOk();
        BlockNode n = fx.openQcow2("tiny", "tiny.qcow2", "");
        n.write(0, ByteBuffer.wrap(new byte[] {7, 8, 9}), 0);
        BlockException e = assertThrows(BlockException.class, () -> n.truncate(1L << 30));
        assertTrue(e.getMessage().contains("contiguous clusters"), e.getMessage());
        assertEquals(1L << 20, n.size());
        fx.close(n);
        fx.assertClean("tiny.qcow2");
        assertEquals(0, fx.qemuImgIo("tiny.qcow2", "read -P 7 0 1", "read -P 9 2 1").exitCode());
    }

    @Test
    void writesAfterAnInternalSnapshotCopyOnWrite() throws Exception {
        fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", "snap.qcow2", "4M").expectOk();
        assertEquals(0, fx.qemuImgIo("snap.qcow2", "write -P 0x11 0 1M", "write -c -P 0x22 1M 64k").exitCode());
        fx.qemuImg("snapshot", "-c", "s1", "snap.qcow2").expectOk();
        BlockNode n = fx.openQcow2("s", "snap.qcow2", "'discard':'unmap'");
        n.write(4096, ByteBuffer.wrap(new byte[8192]), 0);          // shared data cluster: copied
        n.write((1 << 20) + 100, ByteBuffer.wrap(new byte[] {9}), 0); // compressed cluster: rewritten
        n.writeZeroes(65536, 65536, BlockNode.MAY_UNMAP);
        n.discard(131072, 65536);
        fx.close(n);
        fx.assertClean("snap.qcow2");
        assertEquals(0, fx.qemuImgIo("snap.qcow2", "read -P 0 4096 8192", "read -P 0x11 0 4096", "read -P 9 1048676 1",
                "read -P 0x22 1048576 100", "read -P 0 65536 131072").exitCode());
        // the snapshot still holds the old contents
        fx.qemuImg("convert", "-l", "snapshot.name=s1", "-O", "raw", "snap.qcow2", "s1.raw").expectOk();
        byte[] s1 = Files.readAllBytes(fx.path("s1.raw"));
        for (int i = 0; i < 1 << 20; i++) if (s1[i] != 0x11) throw new AssertionError("snapshot changed at " + i);
    }

    @Test
    void refusedFeaturesNameThemselves() throws Exception {
        var luks = fx.qemuImg("create", "-f", "qcow2", "--object", "secret,id=sec0,data=123456", "-o",
                "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", "enc.qcow2", "1M");
        if (luks.exitCode() != 0) { // LUKS key setup times itself and can fail on a loaded machine: say LUKS in the header
            fx.qemuImg("create", "-f", "qcow2", "enc.qcow2", "1M").expectOk();
            try (var ch = java.nio.channels.FileChannel.open(fx.path("enc.qcow2"), java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.allocate(4).putInt(0, 2), 32);
            }
        }
        var e = assertThrows(BlockException.class, () -> fx.openQcow2("e", "enc.qcow2", "'read-only':true"));
        assertTrue(e.getMessage().contains("encryption (luks)"), e.getMessage());
        fx.qemuImg("create", "-f", "qcow2", "-o", "data_file=" + fx.path("data.raw"), "ext.qcow2", "1M").expectOk();
        e = assertThrows(BlockException.class, () -> fx.openQcow2("d", "ext.qcow2", "'read-only':true"));
        assertTrue(e.getMessage().contains("external data file"), e.getMessage());
        fx.qemuImg("create", "-f", "qcow2", "plain.qcow2", "1M").expectOk();
        e = assertThrows(BlockException.class, () -> fx.openQcow2("l", "plain.qcow2", "'lazy-refcounts':true"));
        assertTrue(e.getMessage().contains("lazy refcounts"), e.getMessage());
        // a corrupt image opens read-only only; an unknown incompatible feature is named from the feature table
        setIncompatible("plain.qcow2", 2);
        e = assertThrows(BlockException.class, () -> fx.openQcow2("c", "plain.qcow2", ""));
        assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
        fx.close(fx.openQcow2("c", "plain.qcow2", "'read-only':true"));
        setIncompatible("plain.qcow2", 1L << 40);
        e = assertThrows(BlockException.class, () -> fx.openQcow2("u", "plain.qcow2", "'read-only':true"));
        assertTrue(e.getMessage().contains("Unsupported qcow2 feature"), e.getMessage());
    }

    private static void setIncompatible(String file, long bits) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(fx.path(file), java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).putLong(0, bits), 72);
        }
    }
}
