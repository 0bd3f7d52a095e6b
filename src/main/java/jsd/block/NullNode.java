package jsd.block;

import java.nio.ByteBuffer;

/**
 * The "null-co" and "null-aio" drivers: writes vanish, reads return zeroes
 * (or, with read-zeroes=off as in QEMU, leave the buffer as it is, which
 * for jsd's fresh buffers is still zeroes). For benchmarks and tests.
 */
public final class NullNode extends BlockNode {
    private final String driver;
    private final long size;
    private final boolean readZeroes;
    private final long latencyNs;

    public NullNode(String driver, long size, boolean readZeroes, long latencyNs, boolean readOnly) {
        super(readOnly);
        this.driver = driver;
        this.size = size;
        this.readZeroes = readZeroes;
        this.latencyNs = latencyNs;
    }

    @Override public String driver() { return driver; }

    @Override public String filename() { return "json:{\"driver\": \"" + driver + "\", \"size\": " + size + "}"; }

    @Override public long size() { return size; }

    private void delay() {
        if (latencyNs > 0) {
            try {
                Thread.sleep(latencyNs / 1_000_000, (int) (latencyNs % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) {
        delay();
        while (dst.hasRemaining()) dst.put((byte) 0);
    }

    @Override protected void doWrite(long offset, ByteBuffer src, int flags) { delay(); src.position(src.limit()); }

    @Override protected void doWriteZeroes(long offset, long length, int flags) { delay(); }

    @Override protected void doDiscard(long offset, long length) { }

    @Override public void flush() { }

    @Override
    public BlockStatus blockStatus(long offset, long length) {
        // as QEMU: zero and allocated with read-zeroes, otherwise nothing is known
        return readZeroes ? new BlockStatus(length, BlockStatus.ZERO | BlockStatus.ALLOCATED, 1)
                : new BlockStatus(length, 0, 0);
    }
}
