package jsd.block.qcow2;

import jsd.block.DirtyBitmap;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Persistent dirty bitmaps in a qcow2 image (the "Bitmaps extension" of
 * the specification), kept as QEMU keeps them:
 *  - at open, every bitmap of the directory becomes a dirty bitmap of the
 *    node (one stored with in_use set is inconsistent and only shown);
 *  - opened read-write, the stored bitmaps are marked in_use at once, so
 *    that after a crash they show as inconsistent rather than as wrong;
 *  - at close, every persistent bitmap is written to new clusters, a new
 *    directory points at them (in_use clear), the header extension and the
 *    autoclear bit are switched to it, and only then are the old clusters
 *    released;
 *  - block-dirty-bitmap-remove of a stored bitmap drops it from the image
 *    at once.
 * Cluster allocation happens under the node's metadata lock; refcounts are
 * made durable (a metadata flush) before anything on disk refers to the
 * clusters they count.
 */
final class Qcow2Bitmaps {
    static final int FLAG_IN_USE = 1;
    static final int FLAG_AUTO = 2;
    static final int FLAG_EXTRA_DATA_COMPATIBLE = 4;
    static final int TYPE_DIRTY_TRACKING = 1;
    static final int MAX_BITMAPS = 65535;
    static final long MAX_DIRECTORY_SIZE = 1024L * MAX_BITMAPS;
    private static final long TABLE_OFFSET_MASK = 0x00fffffffffffe00L;

    /** One directory entry as it is (or will be) on disk. */
    record Stored(String name, long tableOffset, int tableSize, int flags, int type, int granularityBits, byte[] extra) {
        boolean usable() {
            return type == TYPE_DIRTY_TRACKING && granularityBits >= 9 && granularityBits <= 31
                    && (extra.length == 0 || (flags & FLAG_EXTRA_DATA_COMPATIBLE) != 0);
        }

        int entrySize() { return (24 + extra.length + name.getBytes(StandardCharsets.UTF_8).length + 7) & ~7; }
    }

    private final Qcow2Node node;
    private final Qcow2Header header;
    private final ReentrantLock meta;
    private final MetadataWriteback writeback;
    private final int clusterSize;
    private List<Stored> directory = new ArrayList<>();

    Qcow2Bitmaps(Qcow2Node node, ReentrantLock meta, MetadataWriteback writeback) {
        this.node = node;
        this.header = node.header;
        this.meta = meta;
        this.writeback = writeback;
        this.clusterSize = header.clusterSize();
    }

    /** The directory as on disk (for query-named-block-nodes' format-specific "bitmaps"). */
    synchronized List<Stored> stored() { return List.copyOf(directory); }

    // ---------------------------------------------------------------- open

    /** Reads the directory and the bitmaps into the node; marks them in use when writable. */
    synchronized void load() throws IOException {
        try {
            loadChecked();
        } catch (IndexOutOfBoundsException | IllegalArgumentException | NegativeArraySizeException | ArithmeticException e) {
            // sizes and offsets in a damaged image that slipped past the checks: an error, never a crash
            throw Qcow2Header.invalid("qcow2 bitmaps are invalid: " + e.getMessage());
        }
    }

    private void loadChecked() throws IOException {
        if (!header.hasBitmaps) return;
        if ((header.autoclear & Qcow2Header.AUTOCLEAR_BITMAPS) == 0) {
            // a program without bitmap support wrote the image: the bitmaps may be wrong, drop them (as QEMU does)
            System.err.println("jsd: qcow2: " + node.file.filename() + ": a program lacking bitmap support modified "
                    + "this file, so all bitmaps are now considered inconsistent");
            if (!node.isReadOnly()) writeExtension(0, 0, 0);
            return;
        }
        if (header.bitmapDirectorySize > MAX_DIRECTORY_SIZE || header.bitmapsCount > MAX_BITMAPS
                || (header.bitmapDirectoryOffset & (clusterSize - 1)) != 0) {
            throw Qcow2Header.invalid("qcow2 bitmaps extension is invalid");
        }
        ByteBuffer dir = ByteBuffer.allocate((int) header.bitmapDirectorySize);
        node.file.read(header.bitmapDirectoryOffset, dir);
        dir.flip();
        List<Stored> entries = parseDirectory(dir, header.bitmapsCount);
        long size = node.size();
        for (Stored s : entries) {
            if (!s.usable()) continue; // kept on disk as it is, not offered
            DirtyBitmap b = new DirtyBitmap(s.name(), 1L << s.granularityBits(), size, (s.flags() & FLAG_AUTO) != 0);
            b.setPersistent(true);
            if ((s.flags() & FLAG_IN_USE) != 0) {
                b.setInconsistent(true);
                b.setEnabled(false); // records nothing: it is only shown until someone removes it
            } else {
                readData(s, size, b);
            }
            if (node.isReadOnly()) b.setReadOnly(true);
            if (node.dirtyBitmaps().find(s.name()) == null) node.dirtyBitmaps().add(b);
        }
        directory = new ArrayList<>(entries);
        if (!node.isReadOnly() && !entries.isEmpty()) {
            // from now on the image's copies are stale until close writes them back
            List<Stored> inUse = new ArrayList<>();
            for (Stored s : entries) {
                inUse.add(s.usable() ? new Stored(s.name(), s.tableOffset(), s.tableSize(), s.flags() | FLAG_IN_USE,
                        s.type(), s.granularityBits(), s.extra()) : s);
            }
            ByteBuffer b = serialize(inUse);
            node.file.write(header.bitmapDirectoryOffset, b, 0);
            node.file.flush();
            directory = inUse;
        }
    }

    private static List<Stored> parseDirectory(ByteBuffer dir, int count) throws IOException {
        List<Stored> out = new ArrayList<>();
        int pos = 0;
        for (int i = 0; i < count; i++) {
            if (pos + 24 > dir.limit()) throw Qcow2Header.invalid("qcow2 bitmap directory is truncated");
            long table = dir.getLong(pos);
            int tableSize = dir.getInt(pos + 8);
            int flags = dir.getInt(pos + 12);
            int type = dir.get(pos + 16) & 0xff;
            int gbits = dir.get(pos + 17) & 0xff;
            int nameSize = dir.getShort(pos + 18) & 0xffff;
            int extraSize = dir.getInt(pos + 20);
            if (nameSize == 0 || extraSize < 0 || pos + 24L + extraSize + nameSize > dir.limit()) {
                throw Qcow2Header.invalid("qcow2 bitmap directory entry " + i + " is invalid");
            }
            byte[] extra = new byte[extraSize];
            dir.get(pos + 24, extra);
            byte[] name = new byte[nameSize];
            dir.get(pos + 24 + extraSize, name);
            out.add(new Stored(new String(name, StandardCharsets.UTF_8), table, tableSize, flags, type, gbits, extra));
            pos += (24 + extraSize + nameSize + 7) & ~7;
        }
        return out;
    }

    private long dataBytes(long size, int gbits) {
        long chunks = (size + (1L << gbits) - 1) >>> gbits;
        return (chunks + 7) >>> 3;
    }

    /** Reads a stored bitmap's data, cluster by cluster, into b. */
    private void readData(Stored s, long size, DirtyBitmap b) throws IOException {
        long bytes = dataBytes(size, s.granularityBits());
        long clusters = (bytes + clusterSize - 1) / clusterSize;
        if (s.tableSize() != clusters || (s.tableOffset() & (clusterSize - 1)) != 0) {
            throw Qcow2Header.invalid("qcow2 bitmap '" + s.name() + "' has an invalid bitmap table");
        }
        ByteBuffer table = ByteBuffer.allocate(s.tableSize() * 8);
        node.file.read(s.tableOffset(), table);
        ByteBuffer cluster = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        long[] words = new long[clusterSize / 8];
        for (int i = 0; i < s.tableSize(); i++) {
            long e = table.getLong(i * 8);
            long off = e & TABLE_OFFSET_MASK;
            int n = (int) Math.min(clusterSize, bytes - (long) i * clusterSize);
            if (off == 0 && (e & 1) == 0) continue; // reads as zeroes
            cluster.clear();
            if (off == 0) {
                while (cluster.hasRemaining()) cluster.put((byte) 0xff);
            } else {
                node.file.read(off, cluster.limit(n));
                cluster.limit(clusterSize);
            }
            for (int k = n; k < clusterSize; k++) cluster.put(k, (byte) 0); // tail bits past the data are not ours
            int count = (n + 7) / 8;
            for (int w = 0; w < count; w++) words[w] = cluster.getLong(w * 8);
            b.orWords(i * (clusterSize / 8), words, count);
        }
    }

    // ---------------------------------------------------------------- QMP checks and removal

    /** QEMU's checks before a bitmap may become persistent in this image. */
    synchronized void checkCanStore(String name, long granularity, String nodeName) {
        String why = null;
        if (header.version < 3) {
            why = "Cannot store dirty bitmaps in qcow2 v2 files";
        } else if (name.getBytes(StandardCharsets.UTF_8).length > DirtyBitmap.MAX_NAME_LENGTH) {
            why = "Name length exceeds maximum (" + DirtyBitmap.MAX_NAME_LENGTH + " characters)";
        } else if (tooBig(granularity)) {
            why = "Too much space will be occupied by the bitmap. Use larger granularity";
        } else if (directory.size() >= MAX_BITMAPS) {
            why = "Maximum number of persistent bitmaps is already reached";
        } else if (directorySize(directory) + new Stored(name, 0, 0, 0, 1, 9, new byte[0]).entrySize() > MAX_DIRECTORY_SIZE) {
            why = "Not enough space in the bitmap directory";
        } else {
            for (Stored s : directory) {
                if (s.name().equals(name)) why = "Bitmap with the same name is already stored";
            }
        }
        if (why != null) throw QapiError.generic("Can't make bitmap '%s' persistent in '%s': %s", name, nodeName, why);
    }

    private boolean tooBig(long granularity) {
        int gbits = Long.numberOfTrailingZeros(granularity);
        long size = node.size();
        // QEMU's limits: at most 2^29 bytes of bitmap data, and a table of at most 2^27 clusters
        return size >>> gbits > 0x20000000L || (size >>> gbits) / clusterSize > 0x8000000L;
    }

    /** Drops a stored bitmap from the image (its clusters are released). */
    synchronized void remove(String name) throws IOException {
        List<Stored> keep = new ArrayList<>();
        List<long[]> frees = new ArrayList<>();
        for (Stored s : directory) {
            if (s.name().equals(name)) frees.addAll(clustersOf(s));
            else keep.add(s);
        }
        if (keep.size() == directory.size()) return; // never stored
        commit(keep, frees);
    }

    // ---------------------------------------------------------------- close

    /** Writes every persistent bitmap of the node back to the image (clean shutdown or blockdev-del). */
    synchronized void store() throws IOException {
        List<DirtyBitmap> persistent = new ArrayList<>();
        for (DirtyBitmap b : node.dirtyBitmaps().list()) if (b.persistent()) persistent.add(b);
        if (persistent.isEmpty() && directory.isEmpty()) return;
        List<Stored> next = new ArrayList<>();
        List<long[]> frees = new ArrayList<>();
        // entries jsd cannot use, and inconsistent ones, stay as they are; the others are rewritten
        for (Stored s : directory) {
            DirtyBitmap b = node.dirtyBitmaps().find(s.name());
            boolean keepAsIs = !s.usable() || (b != null && b.persistent() && b.inconsistent());
            if (keepAsIs) next.add(s);
            else frees.addAll(clustersOf(s));
        }
        for (DirtyBitmap b : persistent) {
            if (b.inconsistent()) continue;
            next.add(writeBitmap(b));
        }
        commit(next, frees);
    }

    /** Writes the bitmap's data and table into newly allocated clusters; all-zero clusters stay unallocated. */
    private Stored writeBitmap(DirtyBitmap b) throws IOException {
        int gbits = Long.numberOfTrailingZeros(b.granularity());
        long size = node.size();
        long bytes = dataBytes(size, gbits);
        int tableSize = (int) ((bytes + clusterSize - 1) / clusterSize);
        ByteBuffer table = ByteBuffer.allocate(tableSize * 8);
        long[] words = new long[clusterSize / 8];
        ByteBuffer c = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < tableSize; i++) {
            int n = (int) Math.min(clusterSize, bytes - (long) i * clusterSize);
            int count = b.copyWords(i * (clusterSize / 8), words, (n + 7) / 8);
            boolean zero = true;
            for (int w = 0; w < count; w++) zero &= words[w] == 0;
            if (zero) continue; // stays unallocated: reads as zeroes
            c.clear();
            for (int w = 0; w < clusterSize / 8; w++) c.putLong(w * 8, w < count ? words[w] : 0);
            for (int k = n; k < clusterSize; k++) c.put(k, (byte) 0); // unused tail bits must be zero
            long off = allocate(1);
            node.file.write(off, c, 0);
            table.putLong(i * 8, off);
        }
        int tableClusters = (int) ((tableSize * 8L + clusterSize - 1) / clusterSize);
        long tableOffset = allocate(tableClusters);
        ByteBuffer t = ByteBuffer.allocate(tableClusters * clusterSize);
        t.put(0, table, 0, table.capacity());
        node.file.write(tableOffset, t, 0);
        return new Stored(b.name(), tableOffset, tableSize, b.enabled() ? FLAG_AUTO : 0, TYPE_DIRTY_TRACKING, gbits,
                new byte[0]);
    }

    private long allocate(int clusters) throws IOException {
        meta.lock();
        try {
            return node.alloc.allocate(clusters);
        } finally {
            meta.unlock();
        }
    }

    /** The clusters a stored bitmap owns: its data clusters and its table. */
    private List<long[]> clustersOf(Stored s) throws IOException {
        List<long[]> out = new ArrayList<>();
        if (s.tableOffset() == 0 || s.tableSize() == 0) return out;
        ByteBuffer table = ByteBuffer.allocate(s.tableSize() * 8);
        node.file.read(s.tableOffset(), table);
        for (int i = 0; i < s.tableSize(); i++) {
            long off = table.getLong(i * 8) & TABLE_OFFSET_MASK;
            if (off != 0) out.add(new long[] {off, clusterSize});
        }
        out.add(new long[] {s.tableOffset(), s.tableSize() * 8L});
        return out;
    }

    /**
     * Switches the image to a new directory: the clusters it (and the data it
     * names) uses are counted durably first, then the header points at it,
     * then the old clusters are released.
     */
    private void commit(List<Stored> next, List<long[]> frees) throws IOException {
        long oldOffset = header.bitmapDirectoryOffset;
        long oldSize = header.hasBitmaps ? header.bitmapDirectorySize : 0;
        long dirOffset = 0;
        long dirSize = directorySize(next);
        if (!next.isEmpty()) {
            ByteBuffer dir = serialize(next);
            int clusters = (int) ((dirSize + clusterSize - 1) / clusterSize);
            dirOffset = allocate(clusters);
            ByteBuffer padded = ByteBuffer.allocate(clusters * clusterSize);
            padded.put(0, dir, 0, dir.limit());
            node.file.write(dirOffset, padded, 0);
        }
        writeback.flush(); // the new clusters' refcounts, and everything written above, are durable
        writeExtension(next.size(), dirSize, dirOffset);
        if (oldSize > 0) frees.add(new long[] {oldOffset, oldSize});
        meta.lock();
        try {
            for (long[] f : frees) node.alloc.free(f[0], f[1]);
        } finally {
            meta.unlock();
        }
        writeback.flush();
        directory = new ArrayList<>(next);
    }

    private static long directorySize(List<Stored> entries) {
        long n = 0;
        for (Stored s : entries) n += s.entrySize();
        return n;
    }

    private static ByteBuffer serialize(List<Stored> entries) {
        ByteBuffer b = ByteBuffer.allocate((int) directorySize(entries));
        for (Stored s : entries) {
            byte[] name = s.name().getBytes(StandardCharsets.UTF_8);
            int start = b.position();
            b.putLong(s.tableOffset()).putInt(s.tableSize()).putInt(s.flags()).put((byte) s.type())
                    .put((byte) s.granularityBits()).putShort((short) name.length).putInt(s.extra().length)
                    .put(s.extra()).put(name);
            b.position(start + s.entrySize());
        }
        return b.flip();
    }

    /**
     * Rewrites the header's extension area with the bitmaps extension set to
     * the given directory (or removed when count is 0) and the autoclear
     * bit to match; a backing file name after the extensions moves along.
     */
    private void writeExtension(int count, long dirSize, long dirOffset) throws IOException {
        writeback.flushLock.lock(); // resizing, growing the refcount table or L1 also write the header
        meta.lock();
        try {
            HeaderExtensions ext = HeaderExtensions.read(node.file, header);
            if (count == 0) {
                ext.remove(HeaderExtensions.EXT_BITMAPS);
            } else {
                ByteBuffer d = ByteBuffer.allocate(24);
                d.putInt(0, count).putInt(4, 0).putLong(8, dirSize).putLong(16, dirOffset);
                ext.put(HeaderExtensions.EXT_BITMAPS, d.array());
            }
            long autoclear = count == 0 ? header.autoclear & ~Qcow2Header.AUTOCLEAR_BITMAPS
                    : header.autoclear | Qcow2Header.AUTOCLEAR_BITMAPS;
            ext.write(node.file, header, autoclear);
            node.file.flush();
            header.autoclear = autoclear;
            header.hasBitmaps = count != 0;
            header.bitmapsCount = count;
            header.bitmapDirectorySize = dirSize;
            header.bitmapDirectoryOffset = dirOffset;
        } finally {
            meta.unlock();
            writeback.flushLock.unlock();
        }
    }
}
