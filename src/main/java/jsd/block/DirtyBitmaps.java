package jsd.block;

import java.util.ArrayList;
import java.util.List;

/**
 * The dirty bitmaps of one node. The write path reads one volatile array
 * (empty when the node has no bitmap, which costs a load and a length
 * check); the monitor replaces the array when bitmaps come and go.
 */
public final class DirtyBitmaps {
    private static final DirtyBitmap[] NONE = new DirtyBitmap[0];

    private volatile DirtyBitmap[] all = NONE;
    private volatile boolean recordDiscards;

    /** Records a write or write-zeroes of [offset, offset+length) in every enabled bitmap. */
    void mark(long offset, long length) {
        DirtyBitmap[] a = all;
        for (DirtyBitmap b : a) b.mark(offset, length);
    }

    /** Discards count as changes only where the node passes them on (discard=unmap), as in QEMU. */
    void markDiscard(long offset, long length) {
        if (recordDiscards) mark(offset, length);
    }

    void resize(long newSize) {
        for (DirtyBitmap b : all) b.resize(newSize);
    }

    /** Set from the node's "discard" option when it is opened. */
    public void setRecordDiscards(boolean on) { recordDiscards = on; }

    public DirtyBitmap find(String name) {
        for (DirtyBitmap b : all) {
            if (b.name().equals(name)) return b;
        }
        return null;
    }

    /** Oldest first. */
    public List<DirtyBitmap> list() { return List.of(all); }

    public synchronized void add(DirtyBitmap b) {
        if (find(b.name()) != null) throw new IllegalStateException("duplicate bitmap " + b.name());
        List<DirtyBitmap> l = new ArrayList<>(List.of(all));
        l.add(b);
        all = l.toArray(NONE);
    }

    public synchronized void remove(DirtyBitmap b) {
        List<DirtyBitmap> l = new ArrayList<>(List.of(all));
        l.remove(b);
        all = l.toArray(NONE);
    }
}
