package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Makes the metadata in the write-back caches durable, in dependency order
 * (crash safety):
 *   refcount blocks, fdatasync (with all data written so far),
 *   L2 tables, fdatasync, L1 pieces, fdatasync,
 *   and only then the refcounts of clusters freed before the flush began.
 * So on disk a cluster is counted before any table points at it, a table
 * exists before the L1 points at it, and a cluster is released only once no
 * durable table points at it. A crash at any instant leaves at worst leaked
 * clusters (counted, unreferenced), never a reference to a free cluster.
 *
 * flushLock serialises flushes (and the node's truncate, which flushes);
 * it is taken before the node's ioGuard and metadata lock.
 */
final class MetadataWriteback {
    final ReentrantLock flushLock = new ReentrantLock();
    private final BlockNode file;
    private final ClusterMap map;
    private final ClusterAllocator alloc;
    private final ReentrantLock meta;
    private final ReentrantReadWriteLock ioGuard;
    private final boolean passDiscard;
    private final int clusterBits;
    private final int clusterSize;
    private List<long[]> pendingFrees = new ArrayList<>();

    MetadataWriteback(BlockNode file, ClusterMap map, ClusterAllocator alloc, ReentrantLock meta,
                      ReentrantReadWriteLock ioGuard, boolean passDiscard) {
        this.file = file;
        this.map = map;
        this.alloc = alloc;
        this.meta = meta;
        this.ioGuard = ioGuard;
        this.passDiscard = passDiscard;
        this.clusterBits = map.clusterBits;
        this.clusterSize = map.clusterSize;
    }

    /** Host ranges {offset, length} to release at the next flush (read and changed under meta). */
    List<long[]> pendingFrees() { return pendingFrees; }

    /** Queues the clusters an old L2 entry referenced for release at the next flush (under meta). */
    void release(long oldEntry) {
        long[] r = map.referencedRange(oldEntry);
        if (r != null) pendingFrees.add(r);
    }

    /** Whether dirty tables have pushed a cache past its size (then the node flushes). */
    boolean cachesOverCapacity() {
        meta.lock();
        try {
            return map.l2.overCapacity() || alloc.blocks.overCapacity();
        } finally {
            meta.unlock();
        }
    }

    void flush() throws IOException {
        flushLock.lock();
        try {
            flushLocked();
        } finally {
            flushLock.unlock();
        }
    }

    /** Writes everything back; the caller holds flushLock. */
    void flushLocked() throws IOException {
        List<MetadataCache.Copy> counts;
        List<MetadataCache.Copy> tables;
        List<Object[]> l1Pieces;
        List<long[]> frees;
        meta.lock();
        try { // one consistent cut: every table change in it follows its refcount change
            counts = alloc.blocks.dirtyCopies();
            tables = map.l2.dirtyCopies();
            l1Pieces = map.takeL1Pieces();
            frees = pendingFrees;
            pendingFrees = new ArrayList<>();
        } finally {
            meta.unlock();
        }
        boolean ok = false;
        try {
            alloc.blocks.write(counts);
            file.flush();
            if (!tables.isEmpty()) {
                map.l2.write(tables);
                if (!l1Pieces.isEmpty()) file.flush();
            }
            for (Object[] p : l1Pieces) file.write((long) p[0], ((ByteBuffer) p[1]).duplicate(), 0);
            if (!tables.isEmpty() || !l1Pieces.isEmpty()) file.flush();
            ok = true;
        } finally {
            meta.lock();
            try {
                alloc.blocks.written(counts, ok);
                map.l2.written(tables, ok);
                if (!ok) {
                    map.restoreL1Pieces(l1Pieces);
                    frees.addAll(pendingFrees);
                    pendingFrees = frees;
                }
            } finally {
                meta.unlock();
            }
        }
        if (!frees.isEmpty()) releaseFrees(frees);
    }

    /** Drops the references of clusters no durable table points at any more, then writes the counts. */
    private void releaseFrees(List<long[]> frees) throws IOException {
        ioGuard.writeLock().lock(); // no request still holds a mapping into these clusters
        try {
            meta.lock();
            try {
                for (long[] f : frees) {
                    alloc.free(f[0], f[1]);
                    if (passDiscard && f[1] == clusterSize && alloc.get(f[0] >>> clusterBits) == 0) {
                        file.discard(f[0], f[1]); // before anyone can allocate it again
                    }
                }
            } finally {
                meta.unlock();
            }
        } finally {
            ioGuard.writeLock().unlock();
        }
        List<MetadataCache.Copy> counts;
        meta.lock();
        try {
            counts = alloc.blocks.dirtyCopies();
        } finally {
            meta.unlock();
        }
        boolean ok = false;
        try {
            alloc.blocks.write(counts);
            file.flush();
            ok = true;
        } finally {
            meta.lock();
            try {
                alloc.blocks.written(counts, ok);
            } finally {
                meta.unlock();
            }
        }
    }
}
