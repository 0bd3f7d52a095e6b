package jsd.export.nbd;

import jsd.block.BlockNode;
import jsd.block.BlockStatus;

import java.io.IOException;
import java.nio.ByteBuffer;

import static jsd.export.nbd.NbdConstants.*;

/**
 * NBD_CMD_BLOCK_STATUS: the extents of each selected metadata context,
 * from the block layer's status (holes and zeroes found by SEEK_DATA /
 * SEEK_HOLE on files, allocation in format drivers). Neighbouring extents
 * with the same flags are merged; REQ_ONE gives exactly one extent.
 */
final class BlockStatusReply {
    /** At most this many extents per context and reply (the client asks again for the rest). */
    static final int MAX_EXTENTS = 8192;

    private final long[] lengths = new long[MAX_EXTENTS];
    private final int[] flags = new int[MAX_EXTENTS];
    private final long[] lengths2 = new long[MAX_EXTENTS];
    private final int[] flags2 = new int[MAX_EXTENTS];

    /** Worst-case bytes of the reply for the given number of contexts. */
    static int maxLength(int contexts, boolean extended) {
        return contexts * ((extended ? 32 + 8 : 20 + 4) + MAX_EXTENTS * (extended ? 16 : 8));
    }

    /**
     * Computes all chunks first (so that a failure leaves nothing half
     * written) and then appends them to b.
     */
    void write(ReplyWriter out, ByteBuffer b, BlockNode node, MetaContexts.Selection sel, long cookie,
               long offset, long length, boolean reqOne) throws IOException {
        int n1 = 0, n2 = 0;
        if (sel.baseAllocation()) n1 = collect(node, offset, length, reqOne, false, lengths, flags);
        if (sel.allocationDepth()) n2 = collect(node, offset, length, reqOne, true, lengths2, flags2);
        boolean ext = out.extended();
        if (sel.baseAllocation()) {
            chunk(out, b, cookie, offset, MetaContexts.ID_BASE_ALLOCATION, lengths, flags, n1, !sel.allocationDepth(), ext);
        }
        if (sel.allocationDepth()) {
            chunk(out, b, cookie, offset, MetaContexts.ID_ALLOCATION_DEPTH, lengths2, flags2, n2, true, ext);
        }
    }

    private static void chunk(ReplyWriter out, ByteBuffer b, long cookie, long offset, int id, long[] lens, int[] fl,
                              int n, boolean last, boolean ext) {
        int type = ext ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT : NBD_REPLY_TYPE_BLOCK_STATUS;
        long len = ext ? 8 + 16L * n : 4 + 8L * n;
        out.putChunk(b, last ? NBD_REPLY_FLAG_DONE : 0, type, cookie, offset, len);
        b.putInt(id);
        if (ext) b.putInt(n);
        for (int i = 0; i < n; i++) {
            if (ext) b.putLong(lens[i]).putLong(Integer.toUnsignedLong(fl[i]));
            else b.putInt((int) lens[i]).putInt(fl[i]);
        }
    }

    private static int collect(BlockNode node, long offset, long length, boolean reqOne, boolean depth,
                               long[] lens, int[] fl) throws IOException {
        long pos = offset;
        long end = offset + length;
        int n = 0;
        while (pos < end) {
            BlockStatus s = node.blockStatus(pos, end - pos);
            long l = Math.min(s.length(), end - pos);
            if (l <= 0) break;
            int f = depth ? s.depth() : (s.isData() ? 0 : NBD_STATE_HOLE) | (s.isZero() ? NBD_STATE_ZERO : 0);
            if (n > 0 && fl[n - 1] == f) {
                lens[n - 1] += l;
            } else {
                if (n == lens.length) break;
                lens[n] = l;
                fl[n] = f;
                n++;
            }
            pos += l;
            if (reqOne) break;
        }
        return n;
    }
}
