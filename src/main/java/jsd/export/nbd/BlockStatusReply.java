package jsd.export.nbd;

import jsd.block.BlockNode;
import jsd.block.BlockStatus;
import jsd.block.DirtyBitmap;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import static jsd.export.nbd.NbdConstants.*;

/**
 * NBD_CMD_BLOCK_STATUS: the extents of each selected metadata context,
 * from the block layer's status (holes and zeroes found by SEEK_DATA /
 * SEEK_HOLE on files, allocation in format drivers) and from exported
 * dirty bitmaps. Neighbouring extents
 * with the same flags are merged; REQ_ONE gives exactly one extent.
 */
final class BlockStatusReply {
    /** At most this many extents per context and reply (the client asks again for the rest). */
    static final int MAX_EXTENTS = 8192;

    // one pair of arrays per context of a reply, made when a selection first needs them
    private long[][] lengths = new long[0][];
    private int[][] flags = new int[0][];
    private int[] counts = new int[0];
    private int[] ids = new int[0];

    /** Worst-case bytes of one context's chunk (each is appended to the reply batch on its own). */
    static int maxChunkLength(boolean extended) {
        return (extended ? 32 + 8 : 20 + 4) + MAX_EXTENTS * (extended ? 16 : 8);
    }

    private void ensure(int contexts) {
        if (lengths.length >= contexts) return;
        int old = lengths.length;
        lengths = java.util.Arrays.copyOf(lengths, contexts);
        flags = java.util.Arrays.copyOf(flags, contexts);
        counts = new int[contexts];
        ids = new int[contexts];
        for (int i = old; i < contexts; i++) {
            lengths[i] = new long[MAX_EXTENTS];
            flags[i] = new int[MAX_EXTENTS];
        }
    }

    /**
     * Computes all chunks first (so that a failure leaves nothing half
     * written) and then appends them to the reply batch, one per context in
     * id order; with many contexts the batch may be sent between two chunks.
     */
    void write(ReplyWriter out, BlockNode node, List<DirtyBitmap> exported, MetaContexts.Selection sel,
               long cookie, long offset, long length, boolean reqOne) throws IOException {
        int n = sel.count();
        ensure(n);
        int k = 0;
        if (sel.baseAllocation()) {
            ids[k] = MetaContexts.ID_BASE_ALLOCATION;
            counts[k] = collect(node, offset, length, reqOne, false, lengths[k], flags[k]);
            k++;
        }
        if (sel.allocationDepth()) {
            ids[k] = MetaContexts.ID_ALLOCATION_DEPTH;
            counts[k] = collect(node, offset, length, reqOne, true, lengths[k], flags[k]);
            k++;
        }
        for (int i : sel.bitmaps()) {
            ids[k] = MetaContexts.ID_FIRST_BITMAP + i;
            counts[k] = dirtyExtents(exported.get(i), offset, length, reqOne ? 1 : MAX_EXTENTS, lengths[k], flags[k]);
            k++;
        }
        boolean ext = out.extended();
        for (int j = 0; j < k; j++) {
            ByteBuffer b = out.batch(maxChunkLength(ext));
            chunk(out, b, cookie, offset, ids[j], lengths[j], flags[j], counts[j], j == k - 1, ext);
        }
    }

    /**
     * The dirty (NBD_STATE_DIRTY) and clean runs of a bitmap over the
     * range: boundaries fall on the bitmap's granularity except at the
     * range's own ends, as QEMU reports them. At most limit extents.
     */
    static int dirtyExtents(DirtyBitmap bm, long offset, long length, int limit, long[] lens, int[] fl) {
        long end = offset + length;
        long pos = offset;
        int n = 0;
        while (pos < end) {
            long d = bm.nextDirty(pos, end);
            long cleanEnd = d < 0 ? end : d;
            if (cleanEnd > pos) {
                n = add(lens, fl, n, limit, cleanEnd - pos, 0);
                if (n < 0) return -n - 1;
                pos = cleanEnd;
            }
            if (d < 0) break;
            long dirtyEnd = bm.nextClean(d, end);
            n = add(lens, fl, n, limit, dirtyEnd - d, NBD_STATE_DIRTY);
            if (n < 0) return -n - 1;
            pos = dirtyEnd;
        }
        return n;
    }

    /** Appends or merges an extent; a negative result -(n+1) says the array was full and n extents are kept. */
    private static int add(long[] lens, int[] fl, int n, int limit, long len, int f) {
        if (n > 0 && fl[n - 1] == f) {
            lens[n - 1] += len;
            return n;
        }
        if (n == limit) return -n - 1;
        lens[n] = len;
        fl[n] = f;
        return n + 1;
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
