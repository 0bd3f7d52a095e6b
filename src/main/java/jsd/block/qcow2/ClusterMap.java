package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * The guest-to-host mapping: the L1 table (kept whole in memory, written
 * back in 512-byte pieces) and L2 tables (through a write-back cache).
 * Every method runs under the node's metadata lock.
 */
final class ClusterMap {
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO = 1L;
    static final long OFFSET_MASK = 0x00fffffffffffe00L;

    private static final int L1_PIECE = 512;

    private final BlockNode file;
    private final Qcow2Header header;
    final int clusterBits;
    final int clusterSize;
    final boolean extended;
    final int entrySize;
    final int l2Bits;           // log2(entries per L2 table)
    final MetadataCache l2;

    long[] l1;
    long l1Offset;
    private final BitSet dirtyL1Pieces = new BitSet();

    /** One guest cluster's L2 entry (and subcluster bitmap for extended L2), with the table it sits in. */
    record Entry(long value, long bitmap, MetadataCache.Table table, int index) {
        long host() { return value & OFFSET_MASK; }

        boolean compressed() { return (value & COMPRESSED) != 0; }
    }

    ClusterMap(BlockNode file, Qcow2Header header, int cacheTables) throws IOException {
        this.file = file;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.extended = header.extendedL2();
        this.entrySize = extended ? 16 : 8;
        this.l2Bits = clusterBits - (extended ? 4 : 3);
        this.l2 = new MetadataCache(file, clusterSize, cacheTables);
        this.l1Offset = header.l1TableOffset;
        this.l1 = new long[header.l1Size];
        if (header.l1Size > 0) {
            ByteBuffer b = ByteBuffer.allocate(header.l1Size * 8);
            file.read(l1Offset, b);
            b.flip();
            for (int i = 0; i < l1.length; i++) l1[i] = b.getLong();
        }
    }

    int l2Entries() { return 1 << l2Bits; }

    /** The L2 table offset for guest cluster gc, 0 if none. */
    long l2Offset(long gc) throws BlockException {
        long i = gc >>> l2Bits;
        if (i >= l1.length) return 0;
        long off = l1[(int) i] & OFFSET_MASK;
        if ((off & (clusterSize - 1)) != 0) {
            throw new Qcow2Corruption("L2 table offset 0x" + Long.toHexString(off) + " is unaligned (L1 index " + i + ")");
        }
        return off;
    }

    /** The entry of guest cluster gc, or null when its L2 table does not exist. */
    Entry entry(long gc) throws IOException {
        long off = l2Offset(gc);
        if (off == 0) return null;
        MetadataCache.Table t = l2.get(off);
        int idx = (int) (gc & ((1L << l2Bits) - 1));
        long v = t.buf.getLong(idx * entrySize);
        long bm = extended ? t.buf.getLong(idx * entrySize + 8) : 0;
        if (!isCompressed(v) && (v & OFFSET_MASK & (clusterSize - 1)) != 0) {
            throw new Qcow2Corruption("cluster offset 0x" + Long.toHexString(v & OFFSET_MASK)
                    + " is unaligned (guest offset 0x" + Long.toHexString(gc << clusterBits) + ")");
        }
        return new Entry(v, bm, t, idx);
    }

    /** The mapping of the bytes at guest offset off (at most maxLen, within one cluster or one missing L2 table). */
    Extent lookup(long off, long maxLen) throws IOException {
        long gc = off >>> clusterBits;
        int in = (int) (off & (clusterSize - 1));
        long avail = Math.min(maxLen, clusterSize - in);
        if (l2Offset(gc) == 0) {
            long tableEnd = ((gc >>> l2Bits) + 1) << (l2Bits + clusterBits);
            return new Extent(Extent.UNALLOCATED, 0, Math.min(maxLen, tableEnd - off));
        }
        Entry e = entry(gc);
        if (e.compressed()) return new Extent(Extent.COMPRESSED, e.value(), avail);
        if (!extended) {
            if ((e.value() & ZERO) != 0) return new Extent(Extent.ZERO, 0, avail);
            if (e.host() == 0) return new Extent(Extent.UNALLOCATED, 0, avail);
            return new Extent(Extent.DATA, e.host() + in, avail);
        }
        int scBits = clusterBits - 5;
        int sc = in >>> scBits;
        int kind = subclusterKind(e.bitmap(), sc);
        int end = sc + 1;
        while (end < 32 && subclusterKind(e.bitmap(), end) == kind) end++;
        long len = Math.min(maxLen, ((long) end << scBits) - in);
        if (kind == Extent.DATA) {
            if (e.host() == 0) throw new Qcow2Corruption("allocated subcluster without a host cluster");
            return new Extent(Extent.DATA, e.host() + in, len);
        }
        return new Extent(kind, 0, len);
    }

    private static int subclusterKind(long bitmap, int sc) {
        if (((bitmap >>> sc) & 1) != 0) return Extent.DATA;
        if (((bitmap >>> (32 + sc)) & 1) != 0) return Extent.ZERO;
        return Extent.UNALLOCATED;
    }

    /** Like {@link #lookup}, merged over following clusters of the same kind (and contiguous host bytes). */
    Extent lookupRun(long off, long len) throws IOException {
        Extent first = lookup(off, len);
        if (first.kind() == Extent.COMPRESSED) return first;
        long total = first.length();
        while (total < len) {
            Extent next = lookup(off + total, len - total);
            if (next.kind() != first.kind()) break;
            if (first.kind() == Extent.DATA && next.host() != first.host() + total) break;
            total += next.length();
        }
        return new Extent(first.kind(), first.host(), total);
    }

    /** The host clusters an L2 entry holds a reference to: {offset, length}, or null. */
    long[] referencedRange(long value) {
        if (isCompressed(value)) {
            int x = 62 - (clusterBits - 8);
            long coff = value & ((1L << x) - 1);
            long sectors = ((value >>> x) & ((1L << (clusterBits - 8)) - 1)) + 1;
            return new long[] {coff & ~511L, sectors * 512};
        }
        long host = value & OFFSET_MASK;
        return host == 0 ? null : new long[] {host, clusterSize};
    }

    static boolean isCompressed(long v) { return (v & COMPRESSED) != 0; }

    /** Whether writes to this cluster can go straight to its host cluster: plain, unshared, fully allocated. */
    boolean inPlace(Entry e) {
        if (e == null || e.compressed() || (e.value() & COPIED) == 0 || e.host() == 0) return false;
        if (extended) return e.bitmap() == 0xffffffffL;
        return (e.value() & ZERO) == 0;
    }

    /**
     * The writable L2 table of gc: allocates a new one when none exists,
     * and copies a shared one (refcount above one, after an internal
     * snapshot) first. Both cases change the L1 entry, which is written
     * back only after the new table (see the node's flush).
     */
    MetadataCache.Table writableTable(long gc, ClusterAllocator alloc, List<long[]> pendingFrees) throws IOException {
        int i = (int) (gc >>> l2Bits);
        long e = l1[i];
        long off = l2Offset(gc);
        if (off != 0 && (e & COPIED) != 0) return l2.get(off);
        long fresh = alloc.allocate(1);
        ByteBuffer initial = null;
        if (off != 0) { // copy-on-write of a shared table; its clusters stay shared, so none is COPIED in the copy
            initial = ByteBuffer.allocate(clusterSize);
            initial.put(l2.get(off).buf.duplicate().clear()).flip();
            for (int k = 0; k < l2Entries(); k++) {
                initial.putLong(k * entrySize, initial.getLong(k * entrySize) & ~COPIED);
            }
            pendingFrees.add(new long[] {off, clusterSize});
        }
        MetadataCache.Table t = l2.create(fresh, initial);
        l1[i] = fresh | COPIED;
        dirtyL1Pieces.set(i * 8 / L1_PIECE);
        return t;
    }

    void set(MetadataCache.Table t, int index, long value, long bitmap) {
        t.buf.putLong(index * entrySize, value);
        if (extended) t.buf.putLong(index * entrySize + 8, bitmap);
        l2.markDirty(t);
    }

    boolean l1Dirty() { return !dirtyL1Pieces.isEmpty(); }

    /** Copies of the dirty 512-byte pieces of the L1 table: {file offset, bytes}. */
    List<Object[]> takeL1Pieces() {
        List<Object[]> out = new ArrayList<>();
        for (int p = dirtyL1Pieces.nextSetBit(0); p >= 0; p = dirtyL1Pieces.nextSetBit(p + 1)) {
            int first = p * L1_PIECE / 8;
            int n = Math.min(L1_PIECE / 8, l1.length - first);
            ByteBuffer b = ByteBuffer.allocate(n * 8);
            for (int k = 0; k < n; k++) b.putLong(l1[first + k]);
            out.add(new Object[] {l1Offset + (long) p * L1_PIECE, b.flip()});
        }
        dirtyL1Pieces.clear();
        return out;
    }

    /** Puts pieces back as dirty after a failed write. */
    void restoreL1Pieces(List<Object[]> pieces) {
        for (Object[] p : pieces) dirtyL1Pieces.set((int) (((long) p[0] - l1Offset) / L1_PIECE));
    }

    /**
     * Replaces the L1 table by a bigger one (for growing the disk). The
     * caller has flushed all metadata and holds every lock; the new table
     * is written and synced before the header is switched to it.
     */
    void growL1(int newSize, ClusterAllocator alloc) throws IOException {
        int clusters = (int) Qcow2Header.ceil((long) newSize * 8, clusterSize);
        long off = alloc.allocate(clusters);
        ByteBuffer b = ByteBuffer.allocate(clusters * clusterSize);
        for (long e : l1) b.putLong(e);
        // the new table's refcounts must be on disk before the header names it
        List<MetadataCache.Copy> counts = alloc.blocks.dirtyCopies();
        boolean ok = false;
        try {
            alloc.blocks.write(counts);
            ok = true;
        } finally {
            alloc.blocks.written(counts, ok);
        }
        file.write(off, b.clear(), 0);
        file.flush();
        ByteBuffer h = ByteBuffer.allocate(12).putInt(newSize).putLong(off).flip();
        file.write(Qcow2Header.OFF_L1_SIZE, h, 0);
        file.flush();
        long oldOff = l1Offset;
        int oldSize = l1.length;
        long[] n = new long[newSize];
        System.arraycopy(l1, 0, n, 0, l1.length);
        l1 = n;
        l1Offset = off;
        header.l1Size = newSize;
        header.l1TableOffset = off;
        if (oldSize > 0) alloc.free(oldOff, (long) oldSize * 8);
    }
}
