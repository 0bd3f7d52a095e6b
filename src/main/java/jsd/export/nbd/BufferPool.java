package jsd.export.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers for request payloads and replies, in power-of-two size
 * classes from 4 KiB to 32 MiB. Direct memory is costly to allocate and is
 * only freed by the garbage collector, so buffers are handed back and
 * reused; the pool keeps at most a bounded number of bytes idle.
 */
final class BufferPool {
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 25;
    private static final long MAX_IDLE_BYTES = 64L << 20;
    private static final int MAX_IDLE_PER_CLASS = 64;

    static final BufferPool SHARED = new BufferPool();

    @SuppressWarnings("unchecked")
    private final ConcurrentLinkedQueue<ByteBuffer>[] idle = new ConcurrentLinkedQueue[MAX_SHIFT - MIN_SHIFT + 1];
    private final AtomicInteger[] idleCount = new AtomicInteger[idle.length];
    private final AtomicLong idleBytes = new AtomicLong();
    private final AtomicLong outstanding = new AtomicLong();

    private BufferPool() {
        for (int i = 0; i < idle.length; i++) {
            idle[i] = new ConcurrentLinkedQueue<>();
            idleCount[i] = new AtomicInteger();
        }
    }

    private static int classOf(int size) {
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(1, size) - 1));
        if (shift > MAX_SHIFT) throw new IllegalArgumentException("buffer of " + size + " bytes is too large");
        return shift - MIN_SHIFT;
    }

    /** A cleared buffer with at least size bytes of capacity, limited to size. */
    ByteBuffer take(int size) {
        int c = classOf(size);
        ByteBuffer b = idle[c].poll();
        if (b != null) {
            idleCount[c].decrementAndGet();
            idleBytes.addAndGet(-b.capacity());
        } else {
            b = ByteBuffer.allocateDirect(1 << (c + MIN_SHIFT));
        }
        outstanding.incrementAndGet();
        return b.clear().limit(size);
    }

    /** Gives a buffer from {@link #take} back; null is ignored. */
    void give(ByteBuffer b) {
        if (b == null) return;
        outstanding.decrementAndGet();
        int c = classOf(b.capacity());
        if (idleCount[c].get() >= MAX_IDLE_PER_CLASS || idleBytes.get() + b.capacity() > MAX_IDLE_BYTES) return;
        idleCount[c].incrementAndGet();
        idleBytes.addAndGet(b.capacity());
        idle[c].offer(b);
    }

    /** Buffers taken and not yet given back (for leak checks in the debug log). */
    long outstanding() { return outstanding.get(); }
}
