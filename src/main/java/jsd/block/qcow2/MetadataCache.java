package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * A write-back cache of one-cluster metadata tables (L2 tables or refcount
 * blocks), keyed by host offset. Every method runs under the node's
 * metadata lock.
 *
 * Dirty tables are never written by eviction: writing an L2 table may
 * first need refcount blocks on disk, and a table may be mid-write by a
 * flush that copied it. Eviction therefore only drops clean, unpinned
 * tables; when dirty tables push the cache past its capacity it grows
 * softly and the node runs a flush (which writes in dependency order) as
 * soon as the current request has let go of its locks.
 */
final class MetadataCache {
    static final class Table {
        final long offset;
        final ByteBuffer buf;
        boolean dirty;
        long version;
        int pins;

        Table(long offset, int size) {
            this.offset = offset;
            this.buf = ByteBuffer.allocate(size);
        }
    }

    /** A copy of a dirty table taken for a flush, written outside the lock. */
    record Copy(Table table, long version, ByteBuffer bytes) {}

    private final LinkedHashMap<Long, Table> tables = new LinkedHashMap<>(64, 0.75f, true);
    private final BlockNode file;
    private final int tableSize;
    private final int capacity;
    private int dirtyCount;

    MetadataCache(BlockNode file, int tableSize, int capacity) {
        this.file = file;
        this.tableSize = tableSize;
        this.capacity = Math.max(2, capacity);
    }

    int capacity() { return capacity; }

    /** The table at offset, read from the file if it is not cached. */
    Table get(long offset) throws IOException {
        Table t = tables.get(offset);
        if (t != null) return t;
        evict();
        t = new Table(offset, tableSize);
        file.read(offset, t.buf.duplicate());
        tables.put(offset, t);
        return t;
    }

    /** A table for a freshly allocated cluster: starts as given (or zeroes), dirty, never read from disk. */
    Table create(long offset, ByteBuffer initial) {
        evict();
        Table t = new Table(offset, tableSize);
        if (initial != null) t.buf.duplicate().put(initial.duplicate().clear());
        Table old = tables.put(offset, t);
        if (old != null && old.dirty) dirtyCount--;
        markDirty(t);
        return t;
    }

    /** A table just written to disk by its creator: cached clean. */
    void putClean(long offset, ByteBuffer content) {
        evict();
        Table t = new Table(offset, tableSize);
        t.buf.duplicate().put(content.duplicate().clear());
        Table old = tables.put(offset, t);
        if (old != null && old.dirty) dirtyCount--;
    }

    void markDirty(Table t) {
        if (!t.dirty) dirtyCount++;
        t.dirty = true;
        t.version++;
    }

    boolean overCapacity() { return tables.size() > capacity; }

    boolean hasDirty() { return dirtyCount > 0; }

    /** Copies every dirty table and pins it until {@link #written}. */
    List<Copy> dirtyCopies() {
        List<Copy> out = new ArrayList<>();
        for (Table t : tables.values()) {
            if (!t.dirty) continue;
            ByteBuffer copy = ByteBuffer.allocate(tableSize);
            copy.put(t.buf.duplicate().clear()).flip();
            t.pins++;
            out.add(new Copy(t, t.version, copy));
        }
        return out;
    }

    /** Writes copies to the file (outside the metadata lock). */
    void write(List<Copy> copies) throws IOException {
        for (Copy c : copies) file.write(c.table.offset, c.bytes.duplicate(), 0);
    }

    /** After the copies are on disk: tables not changed since are clean; unpins. */
    void written(List<Copy> copies, boolean success) {
        for (Copy c : copies) {
            c.table.pins--;
            if (success && c.table.version == c.version && c.table.dirty) {
                c.table.dirty = false;
                dirtyCount--;
            }
        }
        evict();
    }

    /** Forgets a table (its cluster was freed or replaced); it must not be dirty. */
    void forget(long offset) {
        Table t = tables.get(offset);
        if (t != null && !t.dirty && t.pins == 0) tables.remove(offset);
    }

    private void evict() {
        if (tables.size() < capacity) return;
        Iterator<Table> it = tables.values().iterator(); // least recently used first
        while (tables.size() >= capacity && it.hasNext()) {
            Table t = it.next();
            if (!t.dirty && t.pins == 0) it.remove();
        }
    }
}
