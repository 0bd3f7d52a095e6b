package jsd.block.qcow2;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.block.BlockStatus;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The qcow2 format over a protocol node: the request paths (read, write in
 * place, zeroes, discard, block status) and resizing. Allocating writes are
 * in {@link AllocatingWrites}, the ordered write-back of metadata in
 * {@link MetadataWriteback}.
 *
 * Locking. Three locks, always taken in this order:
 *  - the write-back's flushLock serialises flushes (and truncate/close,
 *    which flush);
 *  - ioGuard: every request holds its read side from before it looks up a
 *    mapping until its data I/O is done. Freeing clusters takes the write
 *    side, so a cluster is never reused while a request may still read or
 *    write it through a mapping it saw before the free;
 *  - meta guards all metadata in memory (L1, the L2 and refcount caches,
 *    the allocator, the in-flight map, the pending frees). It is held only
 *    for lookups and updates, never across data I/O (table loads from disk
 *    excepted).
 * No thread waits for flushLock or ioGuard's write side while it holds
 * ioGuard's read side: FUA flushes run after a request has let go.
 */
public final class Qcow2Node extends BlockNode implements jsd.block.PersistentBitmaps {
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    final BlockNode file;
    private final BlockNode backing;
    final Qcow2Header header;
    final ClusterMap map;
    final ClusterAllocator alloc;
    private final int clusterBits;
    private final int clusterSize;
    private final boolean unmapAllowed;

    private final ReentrantReadWriteLock ioGuard = new ReentrantReadWriteLock(true);
    private final ReentrantLock meta = new ReentrantLock();
    private final MetadataWriteback writeback;
    private final AllocatingWrites allocs;
    private final Qcow2Bitmaps bitmaps;
    private volatile long size;
    private volatile boolean corrupt;

    Qcow2Node(BlockNode file, BlockNode backing, Qcow2Header header, boolean readOnly,
              int l2Tables, int refcountTables, boolean unmapAllowed, boolean passDiscard) throws IOException {
        super(readOnly);
        this.file = file;
        this.backing = backing;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.map = new ClusterMap(file, header, l2Tables);
        this.alloc = new ClusterAllocator(file, header, refcountTables);
        this.size = header.size;
        this.unmapAllowed = unmapAllowed;
        this.writeback = new MetadataWriteback(file, map, alloc, meta, ioGuard, passDiscard);
        this.allocs = new AllocatingWrites(this, writeback, meta);
        long unknownAutoclear = header.autoclear & ~Qcow2Header.AUTOCLEAR_BITMAPS;
        if (!readOnly && unknownAutoclear != 0) {
            // autoclear features other than bitmaps are not kept up to date by jsd,
            // so their bits go before anything is written, as the specification asks
            header.autoclear &= Qcow2Header.AUTOCLEAR_BITMAPS;
            file.write(Qcow2Header.OFF_AUTOCLEAR, ByteBuffer.allocate(8).putLong(0, header.autoclear), 0);
            file.flush();
        }
        this.bitmaps = new Qcow2Bitmaps(this, meta, writeback);
        bitmaps.load();
    }

    @Override public String driver() { return "qcow2"; }

    @Override public String filename() { return file.filename(); }

    @Override public long size() { return size; }

    @Override public BlockNode backing() { return backing; }

    @Override public List<BlockNode> children() { return backing == null ? List.of(file) : List.of(file, backing); }

    // ---------------------------------------------------------------- read

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        ioGuard.readLock().lock();
        try {
            readLocked(offset, dst);
        } finally {
            ioGuard.readLock().unlock();
        }
        afterRequest();
    }

    /** Reads guest bytes; the caller holds ioGuard's read side. */
    void readLocked(long offset, ByteBuffer dst) throws IOException {
        long pos = offset;
        while (dst.hasRemaining()) {
            Extent x;
            meta.lock();
            try {
                x = map.lookupRun(pos, dst.remaining());
            } finally {
                meta.unlock();
            }
            int n = (int) x.length();
            ByteBuffer part = dst.slice(dst.position(), n);
            switch (x.kind()) {
                case Extent.DATA -> file.read(x.host(), part);
                case Extent.ZERO -> zero(part);
                case Extent.UNALLOCATED -> readBacking(pos, part);
                default -> readCompressed(x.host(), (int) (pos & (clusterSize - 1)), part);
            }
            dst.position(dst.position() + n);
            pos += n;
        }
    }

    private void readBacking(long pos, ByteBuffer part) throws IOException {
        long n = 0;
        if (backing != null) {
            n = Math.max(0, Math.min(part.remaining(), backing.size() - pos));
            if (n > 0) backing.read(pos, part.slice(0, (int) n));
        }
        zero(part.position((int) n));
    }

    private void readCompressed(long entry, int inCluster, ByteBuffer part) throws IOException {
        long[] r = map.referencedRange(entry);
        int x = 62 - (clusterBits - 8);
        long coff = entry & ((1L << x) - 1);
        int csize = (int) (r[1] - (coff & 511));
        byte[] src = new byte[csize];
        file.read(coff, ByteBuffer.wrap(src));
        byte[] out = new byte[clusterSize];
        Compression.decompress(header.compressionType, src, csize, out);
        part.put(out, inCluster, part.remaining());
    }

    static void zero(ByteBuffer b) {
        while (b.hasRemaining()) b.put(ZEROES.duplicate().limit(Math.min(b.remaining(), ZEROES.capacity())));
    }

    // ---------------------------------------------------------------- write

    @Override
    protected void doWrite(long offset, ByteBuffer src, int flags) throws IOException {
        checkWritable();
        ioGuard.readLock().lock();
        try {
            writeLocked(offset, src);
        } catch (Qcow2Corruption e) {
            throw markCorrupt(e);
        } finally {
            ioGuard.readLock().unlock();
        }
        finish(flags);
    }

    private void writeLocked(long offset, ByteBuffer src) throws IOException {
        long pos = offset;
        while (src.hasRemaining()) {
            Extent x;
            meta.lock();
            try {
                x = inPlaceRun(pos, src.remaining());
            } finally {
                meta.unlock();
            }
            int n;
            if (x != null) {
                n = (int) x.length();
                file.write(x.host(), src.slice(src.position(), n), 0);
            } else {
                n = allocs.freshRun(pos, src.slice(src.position(), src.remaining()));
                if (n == 0) {
                    n = (int) Math.min(src.remaining(), clusterSize - (pos & (clusterSize - 1)));
                    allocs.allocatingWrite(pos, src.slice(src.position(), n));
                }
            }
            src.position(src.position() + n);
            pos += n;
        }
    }

    /** The run at pos writable without touching metadata (plain, unshared, fully allocated clusters), or null. */
    private Extent inPlaceRun(long pos, long len) throws IOException {
        long total = 0;
        long host = 0;
        while (total < len) {
            long p = pos + total;
            ClusterMap.Entry e = map.entry(p >>> clusterBits);
            if (!map.inPlace(e)) break;
            long h = e.host() + (p & (clusterSize - 1));
            if (total == 0) host = h;
            else if (h != host + total) break;
            total += Math.min(len - total, clusterSize - (p & (clusterSize - 1)));
        }
        return total == 0 ? null : new Extent(Extent.DATA, host, total);
    }


    // ---------------------------------------------------------------- zeroes and discard

    @Override
    protected void doWriteZeroes(long offset, long length, int flags) throws IOException {
        checkWritable();
        boolean unmap = (flags & MAY_UNMAP) != 0 && unmapAllowed;
        ioGuard.readLock().lock();
        try {
            if ((flags & NO_FALLBACK) != 0 && !zeroesQuickly(offset, length, unmap)) {
                throw new BlockException(Errno.ENOTSUP, "cannot zero this range without writing zeroes");
            }
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                long clusterEnd = (pos | (clusterSize - 1)) + 1;
                boolean whole = (pos & (clusterSize - 1)) == 0 && (end >= clusterEnd || end >= size);
                long n = Math.min(end, clusterEnd) - pos;
                if (whole && zeroCluster(pos >>> clusterBits, unmap)) {
                    pos += n;
                    continue;
                }
                if (!readsAsZero(pos, n)) {
                    if ((flags & NO_FALLBACK) != 0) throw new BlockException(Errno.ENOTSUP, "cannot zero this range efficiently");
                    for (long done = 0; done < n; ) {
                        int k = (int) Math.min(n - done, ZEROES.capacity());
                        writeLocked(pos + done, ZEROES.duplicate().limit(k));
                        done += k;
                    }
                }
                pos += n;
            }
        } catch (Qcow2Corruption e) {
            throw markCorrupt(e);
        } finally {
            ioGuard.readLock().unlock();
        }
        finish(flags);
    }

    /** Whether the range can be zeroed through metadata alone (checked before NO_FALLBACK requests change anything). */
    private boolean zeroesQuickly(long offset, long length, boolean unmap) throws IOException {
        long end = offset + length;
        long headEnd = Math.min(end, (offset | (clusterSize - 1)) + 1);
        if ((offset & (clusterSize - 1)) != 0 && !readsAsZero(offset, headEnd - offset)) return false;
        long tailStart = Math.max(offset, end & ~(long) (clusterSize - 1));
        if (end < size && tailStart < end && (end & (clusterSize - 1)) != 0 && !readsAsZero(tailStart, end - tailStart)) return false;
        if (header.version >= 3 || (unmap && backing == null)) return true;
        long wholeStart = (offset + clusterSize - 1) & ~(long) (clusterSize - 1);
        return wholeStart >= tailStart || readsAsZero(wholeStart, tailStart - wholeStart);
    }

    private boolean readsAsZero(long pos, long n) throws IOException {
        meta.lock();
        try {
            Extent x = map.lookupRun(pos, n);
            if (x.length() < n) return false;
            return x.kind() == Extent.ZERO || (x.kind() == Extent.UNALLOCATED && backing == null);
        } finally {
            meta.unlock();
        }
    }

    /**
     * Makes a whole cluster read as zeroes by its L2 entry alone; false when
     * the image cannot say so (version 2 without unmapping, or over a
     * backing file) and zeroes must be written.
     */
    private boolean zeroCluster(long gc, boolean unmap) throws IOException {
        boolean zeroFlag = header.version >= 3;
        meta.lock();
        try {
            allocs.waitNotInFlight(gc);
            ClusterMap.Entry e = map.entry(gc);
            long value = e == null ? 0 : e.value();
            boolean unallocated = e == null || (value == 0 && e.bitmap() == 0);
            if (unallocated && backing == null) return true;
            if (!zeroFlag) {
                if (!unmap || backing != null) return false;
                if (e != null) {
                    MetadataCache.Table t = map.writableTable(gc, alloc, writeback.pendingFrees());
                    map.set(t, e.index(), 0, 0);
                    writeback.release(value);
                }
                return true;
            }
            boolean compressed = ClusterMap.isCompressed(value);
            long host = compressed ? 0 : value & ClusterMap.OFFSET_MASK;
            boolean keep = !unmap && host != 0 && (value & ClusterMap.COPIED) != 0;
            long newValue;
            long newBitmap = 0;
            if (map.extended) {
                newValue = keep ? host | ClusterMap.COPIED : 0;
                newBitmap = 0xffffffff00000000L;
            } else {
                newValue = (keep ? host | ClusterMap.COPIED : 0) | ClusterMap.ZERO;
            }
            if (e != null && newValue == value && newBitmap == e.bitmap()) return true;
            MetadataCache.Table t = map.writableTable(gc, alloc, writeback.pendingFrees());
            map.set(t, (int) (gc & (map.l2Entries() - 1)), newValue, newBitmap);
            if (!keep) writeback.release(value);
            return true;
        } finally {
            meta.unlock();
        }
    }


    @Override
    protected void doDiscard(long offset, long length) throws IOException {
        checkWritable();
        if (!unmapAllowed) return; // discard=ignore: the request is only a hint
        ioGuard.readLock().lock();
        try {
            long first = (offset + clusterSize - 1) >>> clusterBits;
            long endCluster = offset + length >= size ? (size + clusterSize - 1) >>> clusterBits
                    : (offset + length) >>> clusterBits;
            for (long gc = first; gc < endCluster; gc++) discardCluster(gc);
        } catch (Qcow2Corruption e) {
            throw markCorrupt(e);
        } finally {
            ioGuard.readLock().unlock();
        }
        afterRequest();
    }

    private void discardCluster(long gc) throws IOException {
        meta.lock();
        try {
            allocs.waitNotInFlight(gc);
            // with a backing file the cluster must not show the backing's data again (version 3 can say so)
            boolean hide = backing != null && header.version >= 3;
            if (map.l2Offset(gc) == 0 && !hide) return;
            ClusterMap.Entry e = map.entry(gc);
            long value = e == null ? 0 : e.value();
            long newValue = hide && !map.extended ? ClusterMap.ZERO : 0;
            long newBitmap = hide && map.extended ? 0xffffffff00000000L : 0;
            if (value == newValue && (e == null ? 0 : e.bitmap()) == newBitmap) return;
            MetadataCache.Table t = map.writableTable(gc, alloc, writeback.pendingFrees());
            map.set(t, (int) (gc & (map.l2Entries() - 1)), newValue, newBitmap);
            writeback.release(value);
        } finally {
            meta.unlock();
        }
    }

    // ---------------------------------------------------------------- block status

    @Override
    public BlockStatus blockStatus(long offset, long length) throws IOException {
        long len = Math.min(length, size - offset);
        if (len <= 0) return new BlockStatus(length, BlockStatus.ZERO, 0);
        Extent x;
        meta.lock();
        try {
            x = map.lookupRun(offset, len);
        } finally {
            meta.unlock();
        }
        int alloc = BlockStatus.ALLOCATED;
        switch (x.kind()) {
            case Extent.DATA -> {
                // like QEMU, a hole in the host file under allocated data reads as zeroes
                BlockStatus f = file.blockStatus(x.host(), x.length());
                int zero = f.isZero() && !f.isData() ? BlockStatus.ZERO : 0;
                return new BlockStatus(Math.min(x.length(), f.length()), BlockStatus.DATA | zero | alloc, 1);
            }
            case Extent.COMPRESSED -> { return new BlockStatus(x.length(), BlockStatus.DATA | alloc, 1); }
            case Extent.ZERO -> { return new BlockStatus(x.length(), BlockStatus.ZERO | alloc, 1); }
            default -> {
                if (backing == null) return new BlockStatus(x.length(), BlockStatus.ZERO, 0);
                long bsize = backing.size();
                if (offset >= bsize) return new BlockStatus(x.length(), BlockStatus.ZERO, 0);
                BlockStatus b = backing.blockStatus(offset, Math.min(x.length(), bsize - offset));
                int flags = b.flags() & (BlockStatus.DATA | BlockStatus.ZERO);
                return new BlockStatus(b.length(), flags, b.depth() == 0 ? 0 : b.depth() + 1);
            }
        }
    }

    // ---------------------------------------------------------------- flush

    private void finish(int flags) throws IOException {
        if ((flags & FUA) != 0) flush();
        else afterRequest();
    }

    /** Writes metadata back when dirty tables have pushed a cache past its size. */
    private void afterRequest() throws IOException {
        if (writeback.cachesOverCapacity() && !isReadOnly()) flush();
    }

    @Override
    public void flush() throws IOException {
        if (isReadOnly()) return;
        writeback.flush();
    }


    // ---------------------------------------------------------------- resize, close, describe

    @Override
    protected void doTruncate(long newSize) throws IOException {
        checkWritable();
        if (newSize % 512 != 0) throw new BlockException(Errno.EINVAL, "The new size must be a multiple of 512");
        long old;
        writeback.flushLock.lock();
        try {
            ioGuard.writeLock().lock();
            try {
                old = size;
                if (newSize < old) throw new BlockException(Errno.ENOTSUP, "jsd cannot shrink qcow2 images");
                if (newSize == old) return;
                writeback.flushLocked();
                meta.lock();
                try {
                    long needed = Qcow2Header.ceil(Qcow2Header.ceil(newSize, clusterSize), map.l2Entries());
                    if (needed * 8 > 32L * 1024 * 1024) throw new BlockException(Errno.EFBIG, "qcow2: the L1 table would exceed 32 MiB");
                    if (needed > map.l1.length) map.growL1((int) Math.min(Math.max(needed, map.l1.length * 3L / 2), 4L * 1024 * 1024), alloc);
                    file.write(Qcow2Header.OFF_SIZE, ByteBuffer.allocate(8).putLong(0, newSize), 0);
                    file.flush();
                    header.size = newSize;
                    size = newSize;
                } finally {
                    meta.unlock();
                }
                writeback.flushLocked();
            } finally {
                ioGuard.writeLock().unlock();
            }
        } finally {
            writeback.flushLock.unlock();
        }
        if (backing != null && backing.size() > old) { // the new area must not show the backing file's bytes
            writeZeroes(old, Math.min(newSize, backing.size()) - old, 0);
            flush();
        }
    }

    @Override
    public void close() throws IOException {
        if (!isReadOnly() && !corrupt) {
            flush();
            bitmaps.store();
            return;
        }
        for (jsd.block.DirtyBitmap b : dirtyBitmaps().list()) {
            if (b.persistent() && !b.readOnly()) { // made in this session on an image it cannot write (as qsd says it)
                System.err.println("jsd: Lost persistent bitmaps during inactivation of node '" + nodeName() + "': "
                        + (corrupt ? "image is marked corrupt" : "No write access"));
                break;
            }
        }
    }

    @Override
    public void checkCanStore(String name, long granularity) { bitmaps.checkCanStore(name, granularity, nodeName()); }

    @Override
    public void removeStored(jsd.block.DirtyBitmap bitmap) throws IOException {
        if (!isReadOnly() && !corrupt) bitmaps.remove(bitmap.name());
    }

    private void checkWritable() throws BlockException {
        if (isReadOnly()) throw new BlockException(Errno.EPERM, "node is read-only");
        if (corrupt) throw new BlockException(Errno.EIO, "qcow2 image is marked corrupt");
    }

    /**
     * Metadata that cannot be right was found while writing: flag the image
     * corrupt on disk (so no one writes more damage into it) and stop writing.
     */
    private BlockException markCorrupt(Qcow2Corruption e) {
        if (!corrupt) {
            corrupt = true;
            System.err.println("jsd: qcow2: marking image as corrupt: " + e.getMessage());
            try {
                header.incompatible |= Qcow2Header.INCOMPAT_CORRUPT;
                if (header.version >= 3) {
                    file.write(Qcow2Header.OFF_INCOMPATIBLE, ByteBuffer.allocate(8).putLong(0, header.incompatible), 0);
                    file.flush();
                }
            } catch (IOException ignored) {
                // the error itself is reported to the caller
            }
        }
        return e;
    }

    @Override
    public void describe(ObjectNode image) {
        file.describe(image);
        image.put("cluster-size", clusterSize);
        image.put("dirty-flag", (header.incompatible & Qcow2Header.INCOMPAT_DIRTY) != 0);
        if (header.backingFile != null) {
            image.put("backing-filename", header.backingFile); // as written in the header, like QEMU
            image.put("full-backing-filename", backing != null ? backing.filename() : header.backingFile);
            if (header.backingFormat != null) image.put("backing-filename-format", header.backingFormat);
        }
        ObjectNode fs = image.putObject("format-specific");
        fs.put("type", "qcow2");
        ObjectNode d = fs.putObject("data");
        d.put("compat", header.compatString());
        d.put("compression-type", header.compressionName()); // QEMU names it for version 2 images too
        if (header.version >= 3) d.put("lazy-refcounts", (header.compatible & Qcow2Header.COMPAT_LAZY_REFCOUNTS) != 0);
        List<Qcow2Bitmaps.Stored> stored = bitmaps.stored();
        if (!stored.isEmpty()) { // as in the image, like qemu-img info shows them
            com.fasterxml.jackson.databind.node.ArrayNode list = d.putArray("bitmaps");
            for (Qcow2Bitmaps.Stored b : stored) {
                ObjectNode o = list.addObject();
                com.fasterxml.jackson.databind.node.ArrayNode flags = o.putArray("flags");
                if ((b.flags() & Qcow2Bitmaps.FLAG_IN_USE) != 0) flags.add("in-use");
                if ((b.flags() & Qcow2Bitmaps.FLAG_AUTO) != 0) flags.add("auto");
                o.put("name", b.name());
                o.put("granularity", 1L << b.granularityBits());
            }
        }
        d.put("refcount-bits", alloc.refcountBits());
        if (header.version >= 3) {
            d.put("corrupt", (header.incompatible & Qcow2Header.INCOMPAT_CORRUPT) != 0);
            d.put("extended-l2", map.extended);
        }
    }
}
