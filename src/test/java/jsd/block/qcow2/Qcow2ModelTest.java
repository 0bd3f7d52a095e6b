package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.sys.Errno;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Random sequences of read/write/zero/discard/flush/reopen against a qcow2
 * node and a byte-array model; the image must read like the model at every
 * step, pass qemu-img check, compare equal to the model in qemu-img, and
 * qemu-img map must agree with jsd's block status. The seed is printed on
 * failure (set -Dqcow2.seed=N to replay one).
 */
class Qcow2ModelTest {
    @ParameterizedTest(name = "cluster {0}, compat {1}, backing {2}, small caches {3}")
    @CsvSource({
            "65536,1.1,none,false", "65536,1.1,none,true", "512,1.1,none,true", "4096,0.10,none,false",
            "65536,1.1,raw,false", "4096,1.1,qcow2,true", "4096,0.10,raw,true", "2097152,1.1,qcow2,false",
            "65536,1.1+ext,none,true", "32768,1.1+ext,qcow2,false",
    })
    void randomOperationsMatchModel(int clusterSize, String compat, String backing, boolean smallCaches) throws Exception {
        long seed = Long.getLong("qcow2.seed", System.nanoTime());
        try {
            run(seed, clusterSize, compat, backing, smallCaches);
        } catch (Throwable t) {
            throw new AssertionError("seed " + seed + " (replay with -Dqcow2.seed=" + seed + "): " + t, t);
        }
    }

    private void run(long seed, int cs, String compatOption, String backingKind, boolean smallCaches) throws Exception {
        Random r = new Random(seed);
        String compat = compatOption.replace("+ext", "") + (compatOption.endsWith("+ext") ? ",extended_l2=on" : "");
        int size = (8 << 20) + 512 * (1 + r.nextInt(64));
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            byte[] base = new byte[size];
            byte[] model;
            if (backingKind.equals("none")) {
                fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=" + cs + ",compat=" + compat, "img.qcow2", "" + size).expectOk();
                model = new byte[size];
            } else {
                // the base is shorter than the overlay: the tail reads as zeroes
                int baseSize = size - 3 * 512 * (1 + r.nextInt(100));
                base = new byte[size];
                for (int i = 0; i < baseSize; i += 4096) {
                    if (r.nextInt(3) > 0) {
                        byte[] chunk = new byte[Math.min(4096, baseSize - i)];
                        r.nextBytes(chunk);
                        System.arraycopy(chunk, 0, base, i, chunk.length);
                    }
                }
                Files.write(fx.path("base.raw"), Arrays.copyOf(base, baseSize));
                String baseFile = "base.raw";
                if (backingKind.equals("qcow2")) {
                    fx.qemuImg("convert", "-f", "raw", "-O", "qcow2", "base.raw", "base.qcow2").expectOk();
                    baseFile = "base.qcow2";
                }
                fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=" + cs + ",compat=" + compat,
                        "-b", baseFile, "-F", backingKind, "img.qcow2", "" + size).expectOk();
                model = base.clone();
            }
            boolean v3 = compat.startsWith("1.1");
            boolean hasBacking = !backingKind.equals("none");
            String extra = "'discard':'unmap'" + (smallCaches ? ",'l2-cache-size':" + 2 * cs + ",'refcount-cache-size':" + 2 * cs : "");
            BlockNode n = fx.openQcow2("q", "img.qcow2", extra);
            int maxLen = Math.max(3 * cs, 256 * 1024);
            for (int step = 0; step < 300; step++) {
                int op = r.nextInt(100);
                long off = r.nextInt(4) == 0 ? (long) r.nextInt(size / cs) * cs : r.nextInt(size);
                int len = (int) Math.min(size - off, 1 + r.nextInt(r.nextBoolean() ? maxLen : 8192));
                if (len <= 0) continue;
                String what = "step " + step + " op " + op + " [" + off + ", +" + len + ")";
                if (op < 40) {
                    byte[] data = new byte[len];
                    r.nextBytes(data);
                    n.write(off, ByteBuffer.wrap(data), r.nextInt(8) == 0 ? BlockNode.FUA : 0);
                    System.arraycopy(data, 0, model, (int) off, len);
                } else if (op < 55) {
                    int flags = (r.nextBoolean() ? BlockNode.MAY_UNMAP : 0) | (r.nextInt(4) == 0 ? BlockNode.NO_FALLBACK : 0);
                    try {
                        n.writeZeroes(off, len, flags);
                    } catch (BlockException e) {
                        if (e.errno() != Errno.ENOTSUP || (flags & BlockNode.NO_FALLBACK) == 0) throw e;
                        assertSame(model, n, what + " (after refused NO_FALLBACK zeroing)");
                        n.writeZeroes(off, len, flags & ~BlockNode.NO_FALLBACK);
                    }
                    Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
                } else if (op < 63) {
                    n.discard(off, len);
                    // whole clusters are dropped: they read as zeroes, or (version 2) as the backing file
                    long first = (off + cs - 1) / cs * cs;
                    long end = off + len >= size ? size : (off + len) / cs * cs;
                    for (long p = first; p < end; p++) model[(int) p] = v3 || !hasBacking ? 0 : base[(int) p];
                } else if (op < 88) {
                    ByteBuffer b = ByteBuffer.allocate(len);
                    n.read(off, b);
                    for (int i = 0; i < len; i++) {
                        if (b.get(i) != model[(int) off + i]) throw new AssertionError(what + ": read differs at " + (off + i));
                    }
                } else if (op < 94) {
                    n.flush();
                } else {
                    fx.close(n);
                    n = fx.openQcow2("q", "img.qcow2", extra);
                    assertSame(model, n, what + " after reopen");
                }
                if (Boolean.getBoolean("qcow2.paranoid")) assertSame(model, n, what + " (paranoid)");
            }
            assertSame(model, n, "final");
            fx.close(n);
            fx.assertClean("img.qcow2");
            Files.write(fx.path("model.raw"), model);
            fx.qemuImg("compare", "-f", "qcow2", "-F", "raw", "img.qcow2", "model.raw").expectOk();
            n = fx.openQcow2("q", "img.qcow2", "'read-only':true");
            assertEquals(fx.qemuMap("img.qcow2"), Qcow2Fixture.statusMap(n), "block status vs qemu-img map");
            fx.close(n);
        }
    }

    private static void assertSame(byte[] model, BlockNode n, String what) throws Exception {
        Qcow2Fixture.assertSameBytes(model, Qcow2Fixture.readAll(n), what);
    }
}
