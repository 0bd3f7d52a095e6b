package jsd.block;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Writes explicit zeroes, for drivers or file systems that cannot zero a range otherwise. */
final class ZeroWriter {
    private static final int CHUNK = 1 << 20;
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

    private ZeroWriter() {}

    static void fill(BlockNode node, long offset, long length) throws IOException {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int n = (int) Math.min(CHUNK, end - pos);
            node.write(pos, ZEROES.duplicate().limit(n), 0);
            pos += n;
        }
    }
}
