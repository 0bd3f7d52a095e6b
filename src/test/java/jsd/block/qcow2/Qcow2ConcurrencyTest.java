package jsd.block.qcow2;

import jsd.block.BlockNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Many writers at once on one node. Every 1 KiB unit of the disk belongs to
 * one random writer, so neighbouring units of one cluster (and entries of
 * one L2 table, counts in one refcount block) are changed by different
 * threads at the same moment: a lost L2 or refcount update shows up as a
 * unit that does not hold its owner's last write, or as qemu-img check
 * errors.
 */
class Qcow2ConcurrencyTest {
    private static final int UNIT = 1024;

    @ParameterizedTest(name = "cluster {0}, backing {1}, small caches {2}, {3} threads, {4} KiB, {5} rounds")
    @CsvSource({"4096,false,false,16,8192,1", "4096,true,true,16,8192,1", "65536,true,false,16,8192,1",
            "16384,false,true,16,8192,1", "65536,true,false,64,1024,6", "2097152,false,false,64,4096,3"})
    void concurrentWritersLoseNothing(int cs, boolean withBacking, boolean smallCaches, int threads, int kib, int rounds) throws Exception {
        for (int round = 0; round < rounds; round++) round(cs, withBacking, smallCaches, threads, kib);
    }

    private void round(int cs, boolean withBacking, boolean smallCaches, int threads, int kib) throws Exception {
        long seed = Long.getLong("qcow2.seed", System.nanoTime());
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            int size = kib << 10;
            byte[] model = new byte[size];
            Random r0 = new Random(seed);
            if (withBacking) {
                r0.nextBytes(model);
                Files.write(fx.path("base.raw"), model);
                fx.qemuImg("convert", "-f", "raw", "-O", "qcow2", "base.raw", "base.qcow2").expectOk();
                fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=" + cs, "-b", "base.qcow2", "-F", "qcow2", "img.qcow2").expectOk();
            } else {
                fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=" + cs, "img.qcow2", "" + size).expectOk();
            }
            String extra = "'discard':'unmap'" + (smallCaches ? ",'l2-cache-size':" + 2 * cs + ",'refcount-cache-size':" + 2 * cs : "");
            BlockNode n = fx.openQcow2("q", "img.qcow2", extra);
            int units = size / UNIT;
            int[] owner = new int[units];
            for (int u = 0; u < units; u++) owner[u] = r0.nextInt(threads);
            List<Future<?>> done = new ArrayList<>();
            // platform threads: preempted at any instant, so racing requests really overlap
            try (ExecutorService ex = Executors.newCachedThreadPool()) {
                for (int t = 0; t < threads; t++) {
                    final int me = t;
                    final long mySeed = seed + t;
                    done.add(ex.submit(() -> {
                        Random r = new Random(mySeed);
                        List<Integer> mine = new ArrayList<>();
                        for (int u = 0; u < units; u++) if (owner[u] == me) mine.add(u);
                        for (int i = 0; i < 6400 / threads; i++) {
                            int u = mine.get(r.nextInt(mine.size()));
                            int run = 1;
                            while (run < 8 && u + run < units && owner[u + run] == me) run++;
                            long off = (long) u * UNIT;
                            int len = run * UNIT;
                            int op = r.nextInt(10);
                            if (op < 6) {
                                byte[] d = new byte[len];
                                r.nextBytes(d);
                                n.write(off, ByteBuffer.wrap(d), 0);
                                synchronized (model) { System.arraycopy(d, 0, model, (int) off, len); }
                            } else if (op < 8) {
                                n.writeZeroes(off, len, BlockNode.MAY_UNMAP);
                                synchronized (model) { java.util.Arrays.fill(model, (int) off, (int) off + len, (byte) 0); }
                            } else if (op < 9) {
                                ByteBuffer b = ByteBuffer.allocate(len);
                                n.read(off, b);
                                byte[] expect = new byte[len];
                                synchronized (model) { System.arraycopy(model, (int) off, expect, 0, len); }
                                if (!java.util.Arrays.equals(expect, b.array())) throw new AssertionError("thread " + me + ": unit " + u + " lost its data");
                            } else {
                                n.flush();
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) f.get();
            } catch (Exception e) {
                throw new AssertionError("seed " + seed + ": " + e, e);
            }
            Qcow2Fixture.assertSameBytes(model, Qcow2Fixture.readAll(n), "seed " + seed + ": after the storm");
            fx.close(n);
            fx.assertClean("img.qcow2");
            Files.write(fx.path("model.raw"), model);
            fx.qemuImg("compare", "-f", "qcow2", "-F", "raw", "img.qcow2", "model.raw").expectOk();
        }
    }
}
