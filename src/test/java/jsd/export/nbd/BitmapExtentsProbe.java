package jsd.export.nbd;

import jsd.block.DirtyBitmap;

/** Lets block-layer tests check the extents BLOCK_STATUS would send for a bitmap. */
public final class BitmapExtentsProbe {
    private BitmapExtentsProbe() {}

    public static int extents(DirtyBitmap b, long offset, long length, int limit, long[] lens, int[] flags) {
        return BlockStatusReply.dirtyExtents(b, offset, length, limit, lens, flags);
    }
}
