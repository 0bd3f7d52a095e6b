package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Reference counts and host cluster allocation. Every method runs under the
 * node's metadata lock.
 *
 * Refcount blocks live in a write-back cache; the node's flush writes them
 * (then syncs) before any L2 table that could point at a cluster they count,
 * so on disk a cluster is always counted before it is referenced.
 *
 * The two structural changes are written through at once, in an order that
 * is safe at every instant:
 *  - a new refcount block is placed inside the range it covers (counting
 *    itself), written and synced before the refcount table entry that
 *    points at it;
 *  - a full refcount table is replaced by a bigger one placed past the
 *    covered range together with the new blocks that count it: blocks and
 *    table are written and synced, then the header is switched to the new
 *    table in one 12-byte write and synced, and only then is the old table
 *    released.
 */
final class ClusterAllocator {
    private final BlockNode file;
    private final Qcow2Header header;
    private final int clusterBits;
    private final int clusterSize;
    private final int refcountBits;
    private final int blockShift;      // log2(refcount entries per block)
    private final long maxRefcount;
    final MetadataCache blocks;

    private long[] table;              // refcount table, in memory
    private long freeHint;             // no free cluster below this index

    ClusterAllocator(BlockNode file, Qcow2Header header, int cacheTables) throws IOException {
        this.file = file;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.refcountBits = 1 << header.refcountOrder;
        this.blockShift = clusterBits + 3 - header.refcountOrder;
        this.maxRefcount = refcountBits == 64 ? Long.MAX_VALUE : (1L << refcountBits) - 1;
        this.blocks = new MetadataCache(file, clusterSize, cacheTables);
        int entries = header.refcountTableClusters * (clusterSize / 8);
        ByteBuffer b = ByteBuffer.allocate(entries * 8);
        file.read(header.refcountTableOffset, b);
        b.flip();
        table = new long[entries];
        for (int i = 0; i < entries; i++) table[i] = b.getLong();
    }

    int refcountBits() { return refcountBits; }

    /**
     * The most clusters one {@link #allocate} call should ask for. New
     * refcount blocks are placed at the start of the range they cover, so a
     * longer window may never fit between two of them in fresh space.
     */
    int maxRun() { return 1 << (blockShift - 1); }

    /** The refcount of host cluster index c (0 where no block covers it). */
    long get(long c) throws IOException {
        long ti = c >>> blockShift;
        if (ti >= table.length) return 0;
        long blockOffset = blockOffset(ti);
        if (blockOffset == 0) return 0;
        return read(blocks.get(blockOffset).buf, (int) (c & ((1L << blockShift) - 1)));
    }

    private long blockOffset(long ti) throws BlockException {
        long off = table[(int) ti] & ~511L;
        if (off != 0 && (off & (clusterSize - 1)) != 0) {
            throw new Qcow2Corruption("refcount block offset 0x" + Long.toHexString(off) + " is unaligned");
        }
        return off;
    }

    /** Adds delta to the refcount of cluster c, whose refcount block must exist. */
    void adjust(long c, long delta) throws IOException {
        long ti = c >>> blockShift;
        long blockOffset = ti < table.length ? blockOffset(ti) : 0;
        if (blockOffset == 0) throw new Qcow2Corruption("cluster 0x" + Long.toHexString(c << clusterBits) + " has no refcount block");
        MetadataCache.Table t = blocks.get(blockOffset);
        int idx = (int) (c & ((1L << blockShift) - 1));
        long v = read(t.buf, idx) + delta;
        if (v < 0) throw new Qcow2Corruption("refcount of cluster 0x" + Long.toHexString(c << clusterBits) + " would drop below zero");
        if (v > maxRefcount) throw new BlockException(Errno.ERANGE, "qcow2: refcount overflow");
        write(t.buf, idx, v);
        blocks.markDirty(t);
        if (v == 0 && c < freeHint) freeHint = c;
    }

    /** Releases the clusters overlapping [offset, offset+length) (one reference each). */
    void free(long offset, long length) throws IOException {
        long first = offset >>> clusterBits;
        long last = (offset + length - 1) >>> clusterBits;
        for (long c = first; c <= last; c++) adjust(c, -1);
    }

    /** Allocates n contiguous free clusters (refcount 1 each); returns the host offset of the first. */
    long allocate(int n) throws IOException {
        // A run longer than half a refcount block's range never fits: each new
        // block sits at the start of its range, so the search would go on forever.
        if (n > maxRun()) {
            throw new BlockException(Errno.EFBIG, "qcow2: cannot allocate " + n
                    + " contiguous clusters with this cluster size (at most " + maxRun() + ")");
        }
        long c = Math.max(freeHint, 1);
        while (true) {
            if (((c + n) << clusterBits) > (1L << 56) || ((c + n) << clusterBits) < 0) {
                throw new BlockException(Errno.ENOSPC, "qcow2: host offset beyond the format's limit");
            }
            if (prepareBlocks(c, n)) continue; // structures changed (and took clusters): look again
            int busy = -1;
            for (int i = n - 1; i >= 0; i--) {
                if (get(c + i) != 0) { busy = i; break; }
            }
            if (busy >= 0) { // no window holding a busy cluster can work: start after it
                c += busy + 1;
                continue;
            }
            for (int i = 0; i < n; i++) adjust(c + i, 1);
            if (n == 1) freeHint = c + 1; // every cluster from the old hint up to c was busy
            return c << clusterBits;
        }
    }

    /** Makes sure refcount blocks cover clusters [c, c+n); true if it had to create some. */
    private boolean prepareBlocks(long c, int n) throws IOException {
        for (long ti = c >>> blockShift; ti <= (c + n - 1) >>> blockShift; ti++) {
            if (ti >= table.length) {
                growTable(ti, c);
                return true;
            }
            if (blockOffset(ti) == 0) {
                createBlock(ti, Math.max(c, ti << blockShift));
                return true;
            }
        }
        return false;
    }

    private void createBlock(long ti, long at) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(clusterSize);
        write(b, (int) (at - (ti << blockShift)), 1);
        long off = at << clusterBits;
        file.write(off, b.duplicate(), 0);
        file.flush(); // the block is durable before anything points at it
        ByteBuffer entry = ByteBuffer.allocate(8).putLong(0, off);
        file.write(header.refcountTableOffset + ti * 8, entry, 0);
        table[(int) ti] = off;
        blocks.putClean(off, b);
    }

    private void growTable(long neededTi, long candidate) throws IOException {
        int perCluster = clusterSize / 8;
        long coverage = (long) table.length << blockShift;
        long base = Math.max(coverage, candidate);
        long newEntries = Math.max(neededTi + 1, table.length * 2L);
        long firstTi = base >>> blockShift;
        int newBlocks = 0;
        int tableClusters;
        while (true) {
            newEntries = Qcow2Header.ceil(newEntries, perCluster) * perCluster;
            tableClusters = (int) (newEntries / perCluster);
            long total = newBlocks + tableClusters;
            long lastTi = (base + total - 1) >>> blockShift;
            int needBlocks = (int) (lastTi - firstTi + 1);
            if (lastTi >= newEntries) { newEntries = lastTi + 1; continue; }
            if (needBlocks == newBlocks) break;
            newBlocks = needBlocks;
        }
        if ((long) tableClusters * clusterSize > 8L * 1024 * 1024) {
            throw new BlockException(Errno.EFBIG, "qcow2: refcount table would exceed 8 MiB");
        }
        long end = base + newBlocks + tableClusters; // [base, end) holds the new blocks and table
        ByteBuffer newTable = ByteBuffer.allocate(tableClusters * clusterSize);
        for (long e : table) newTable.putLong(e);
        ByteBuffer[] newBlockBufs = new ByteBuffer[newBlocks];
        for (int i = 0; i < newBlocks; i++) {
            long ti = firstTi + i;
            ByteBuffer b = ByteBuffer.allocate(clusterSize);
            long lo = Math.max(base, ti << blockShift);
            long hi = Math.min(end, (ti + 1) << blockShift);
            for (long x = lo; x < hi; x++) write(b, (int) (x - (ti << blockShift)), 1);
            long off = (base + i) << clusterBits;
            file.write(off, b.duplicate(), 0);
            newTable.putLong((int) (ti * 8), off);
            newBlockBufs[i] = b;
        }
        long tableOffset = (base + newBlocks) << clusterBits;
        file.write(tableOffset, newTable.clear(), 0);
        file.flush();
        ByteBuffer h = ByteBuffer.allocate(12).putLong(tableOffset).putInt(tableClusters).flip();
        file.write(Qcow2Header.OFF_REFCOUNT_TABLE, h, 0);
        file.flush();
        long oldOffset = header.refcountTableOffset;
        int oldClusters = header.refcountTableClusters;
        header.refcountTableOffset = tableOffset;
        header.refcountTableClusters = tableClusters;
        long[] t = new long[(int) newEntries];
        newTable.clear();
        for (int i = 0; i < t.length; i++) t[i] = newTable.getLong();
        table = t;
        for (int i = 0; i < newBlocks; i++) blocks.putClean((base + i) << clusterBits, newBlockBufs[i]);
        free(oldOffset, (long) oldClusters * clusterSize);
    }

    // Refcount entries are refcountBits wide; sub-byte widths count from the least significant bit.
    private long read(ByteBuffer b, int idx) {
        return switch (refcountBits) {
            case 64 -> b.getLong(idx * 8);
            case 32 -> b.getInt(idx * 4) & 0xffffffffL;
            case 16 -> b.getShort(idx * 2) & 0xffff;
            case 8 -> b.get(idx) & 0xff;
            default -> {
                int bit = idx * refcountBits;
                yield (b.get(bit >>> 3) >>> (bit & 7)) & ((1 << refcountBits) - 1);
            }
        };
    }

    private void write(ByteBuffer b, int idx, long v) {
        switch (refcountBits) {
            case 64 -> b.putLong(idx * 8, v);
            case 32 -> b.putInt(idx * 4, (int) v);
            case 16 -> b.putShort(idx * 2, (short) v);
            case 8 -> b.put(idx, (byte) v);
            default -> {
                int bit = idx * refcountBits;
                int mask = ((1 << refcountBits) - 1) << (bit & 7);
                int old = b.get(bit >>> 3);
                b.put(bit >>> 3, (byte) ((old & ~mask) | (((int) v << (bit & 7)) & mask)));
            }
        }
    }
}
