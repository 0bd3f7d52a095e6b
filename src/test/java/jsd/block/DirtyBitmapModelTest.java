package jsd.block;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DirtyBitmap against a plain BitSet model: seeded random marks (at word
 * and size edges), clears, merges across granularities, resizes, and the
 * dirty/clean runs BLOCK_STATUS reports over random ranges. Then many
 * threads marking while the bitmap is resized must lose no bit. Replay a
 * failure with -Djsd.seed=N.
 */
class DirtyBitmapModelTest {
    static final class Model {
        final long gran;
        long size;
        BitSet bits = new BitSet();

        Model(long gran, long size) {
            this.gran = gran;
            this.size = size;
        }

        long chunks() { return (size + gran - 1) / gran; }

        void set(long off, long len) {
            long end = Math.min(off + len, size);
            if (off >= end) return;
            bits.set((int) (off / gran), (int) ((end - 1) / gran) + 1);
        }

        boolean dirtyAt(long off) { return bits.get((int) (off / gran)); }

        void resize(long n) {
            size = n;
            int keep = (int) chunks();
            if (bits.length() > keep) bits.clear(keep, bits.length());
        }
    }

    static void check(DirtyBitmap b, Model m, Random r, String what) {
        assertEquals(m.bits.cardinality() * m.gran, b.count(), "count " + what);
        assertEquals(m.size, b.size(), "size " + what);
        // words as they would be stored: bit i = chunk i
        long[] words = b.snapshot();
        for (int c = 0; c < m.chunks(); c++) {
            assertEquals(m.bits.get(c), ((words[c >>> 6] >>> (c & 63)) & 1) != 0, "chunk " + c + " " + what);
        }
        for (int i = 0; i < 5 && m.size > 0; i++) {
            long off = (long) (r.nextDouble() * m.size);
            long len = 1 + (long) (r.nextDouble() * (m.size - off));
            long[] lens = new long[64];
            int[] fl = new int[64];
            int n = jsd.export.nbd.BitmapExtentsProbe.extents(b, off, len, 64, lens, fl);
            long pos = off;
            for (int k = 0; k < n; k++) {
                for (long p = pos; p < pos + lens[k]; p = (p / m.gran + 1) * m.gran) {
                    assertEquals(fl[k] == 1, m.dirtyAt(p), "extent " + k + " at " + p + " " + what);
                }
                if (k > 0) assertTrue(fl[k] != fl[k - 1], "neighbours merged " + what);
                pos += lens[k];
            }
            assertTrue(n == 64 || pos == off + len, "extents cover the range " + what);
        }
    }

    @Test
    void randomOperationsMatchModel() {
        long seed = Long.getLong("jsd.seed", System.nanoTime());
        try {
            run(seed);
        } catch (Throwable t) {
            throw new AssertionError("seed " + seed + " (replay with -Djsd.seed=" + seed + "): " + t, t);
        }
    }

    private void run(long seed) {
        Random r = new Random(seed);
        for (int round = 0; round < 30; round++) {
            long gran = 512L << r.nextInt(12);
            long size = 1 + (long) (r.nextDouble() * gran * (r.nextBoolean() ? 200 : 5000));
            DirtyBitmap b = new DirtyBitmap("b", gran, size, true);
            Model m = new Model(gran, size);
            List<Object[]> others = new ArrayList<>();
            for (int step = 0; step < 60; step++) {
                int op = r.nextInt(10);
                String what = "round " + round + " step " + step + " op " + op;
                if (op < 6) {
                    long off = r.nextInt(8) == 0 ? Math.max(0, m.size - r.nextInt(3000)) : (long) (r.nextDouble() * m.size);
                    long len = 1 + (r.nextBoolean() ? r.nextInt(5000) : (long) (r.nextDouble() * gran * 130));
                    if (r.nextInt(5) == 0) b.setEnabled(false);
                    b.mark(off, len);
                    if (b.enabled()) m.set(off, len);
                    b.setEnabled(true);
                } else if (op == 6) {
                    b.clear();
                    m.bits.clear();
                } else if (op == 7) {
                    long g2 = 512L << r.nextInt(12);
                    DirtyBitmap o = new DirtyBitmap("o", g2, m.size, true);
                    Model om = new Model(g2, m.size);
                    for (int i = 0; i < 4; i++) {
                        long off = (long) (r.nextDouble() * m.size);
                        long len = 1 + r.nextInt(100_000);
                        o.mark(off, len);
                        om.set(off, len);
                    }
                    b.merge(o);
                    // a source chunk marks every target chunk it overlaps
                    for (int c = om.bits.nextSetBit(0); c >= 0; c = om.bits.nextSetBit(c + 1)) m.set(c * g2, g2);
                    others.add(new Object[] {o, om});
                } else {
                    long n = Math.max(1, m.size + (long) ((r.nextDouble() - 0.5) * gran * 100));
                    b.resize(n);
                    m.resize(n);
                }
                check(b, m, r, what);
            }
        }
    }

    @Test
    void concurrentMarksDuringResizeLoseNothing() throws Exception {
        long gran = 512;
        DirtyBitmap b = new DirtyBitmap("c", gran, 64L << 20, true);
        int threads = 8;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            ts.add(Thread.ofVirtual().start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                // interleaved chunks, so that threads share words
                for (long c = id; c < (64L << 20) / gran; c += threads) b.mark(c * gran + 7, 1);
            }));
        }
        Thread resizer = Thread.ofVirtual().start(() -> {
            try {
                start.await();
            } catch (InterruptedException e) {
                return;
            }
            for (int i = 0; i < 200; i++) b.resize((64L << 20) + (i % 2 == 0 ? 4096 : 0));
        });
        start.countDown();
        for (Thread t : ts) t.join();
        resizer.join();
        b.resize(64L << 20);
        assertEquals(64L << 20, b.count());
        assertEquals(64L << 20, b.nextClean(0, 64L << 20));
    }
}
