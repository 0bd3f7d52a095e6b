package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes to clusters that cannot be written in place (unallocated, zero,
 * compressed, shared or partly allocated). Such a write reserves a host
 * cluster and marks the guest cluster in flight, builds the whole cluster
 * (old contents around the new bytes) outside the metadata lock, writes
 * it, and only then points the L2 entry at it. Other writes, zeroes and
 * discards of an in-flight cluster wait for it, so two of them can never
 * both allocate the same cluster and lose one update (QEMU serialises
 * allocating writes per cluster the same way). A request covering several
 * whole clusters that all need new host clusters reserves them as one
 * contiguous run and writes them with one call.
 *
 * Callers hold the node's ioGuard read side; the in-flight map is guarded
 * by the node's metadata lock.
 */
final class AllocatingWrites {
    private static final int MAX_RUN_CLUSTERS = 4096; // bounds the in-flight entries one request adds

    private final Qcow2Node node;
    private final BlockNode file;
    private final ClusterMap map;
    private final ClusterAllocator alloc;
    private final MetadataWriteback writeback;
    private final ReentrantLock meta;
    private final int clusterBits;
    private final int clusterSize;
    private final Map<Long, CountDownLatch> inFlight = new HashMap<>();

    AllocatingWrites(Qcow2Node node, MetadataWriteback writeback, ReentrantLock meta) {
        this.node = node;
        this.file = node.file;
        this.map = node.map;
        this.alloc = node.alloc;
        this.writeback = writeback;
        this.meta = meta;
        this.clusterBits = map.clusterBits;
        this.clusterSize = map.clusterSize;
    }

    /**
     * Writes the longest run of whole clusters at pos (pos cluster-aligned)
     * that all need a fresh host cluster, with one reservation of
     * contiguous host clusters and one write of the caller's bytes, then
     * points all their L2 entries at it. Every cluster of the run is in
     * flight meanwhile, exactly as for a single-cluster allocation. Returns
     * the bytes written, or 0 when the run is shorter than two clusters
     * (the per-cluster path handles those, waits and partial clusters).
     */
    int freshRun(long pos, ByteBuffer data) throws IOException {
        if ((pos & (clusterSize - 1)) != 0 || data.remaining() < 2 * clusterSize) return 0;
        long gc0 = pos >>> clusterBits;
        int max = Math.min(data.remaining() >>> clusterBits, Math.min(MAX_RUN_CLUSTERS, alloc.maxRun()));
        CountDownLatch mine = new CountDownLatch(1);
        int n = 0;
        long host;
        meta.lock();
        try {
            while (n < max && needsFreshCluster(gc0 + n)) n++;
            if (n < 2) return 0;
            host = alloc.allocate(n);
            for (int i = 0; i < n; i++) inFlight.put(gc0 + i, mine);
        } finally {
            meta.unlock();
        }
        int installed = 0;
        try {
            file.write(host, data.slice(0, n << clusterBits), 0);
            meta.lock();
            try {
                for (; installed < n; installed++) {
                    long gc = gc0 + installed;
                    MetadataCache.Table t = map.writableTable(gc, alloc, writeback.pendingFrees());
                    int idx = (int) (gc & (map.l2Entries() - 1));
                    long old = t.buf.getLong(idx * map.entrySize);
                    map.set(t, idx, (host + ((long) installed << clusterBits)) | ClusterMap.COPIED, map.extended ? 0xffffffffL : 0);
                    writeback.release(old);
                }
            } finally {
                meta.unlock();
            }
        } finally {
            meta.lock();
            try {
                for (int i = installed; i < n; i++) alloc.adjust((host >>> clusterBits) + i, -1);
            } finally {
                for (int i = 0; i < n; i++) inFlight.remove(gc0 + i);
                mine.countDown();
                meta.unlock();
            }
        }
        return n << clusterBits;
    }

    /** Whether a whole-cluster write to gc would take a new host cluster right now (under meta). */
    private boolean needsFreshCluster(long gc) throws IOException {
        if (inFlight.containsKey(gc)) return false;
        ClusterMap.Entry e = map.entry(gc);
        if (map.inPlace(e)) return false;
        // a zero cluster with preallocated space, or a partly allocated one, keeps its host cluster
        return e == null || e.compressed() || (e.value() & ClusterMap.COPIED) == 0 || e.host() == 0;
    }

    /** Writes data (within one cluster) to a cluster that needs a new or rebuilt host cluster. */
    void allocatingWrite(long pos, ByteBuffer data) throws IOException {
        long gc = pos >>> clusterBits;
        long clusterStart = gc << clusterBits;
        int in = (int) (pos - clusterStart);
        while (true) {
            CountDownLatch mine;
            long host;
            boolean reuse;
            meta.lock();
            try {
                CountDownLatch other = inFlight.get(gc);
                if (other != null) {
                    meta.unlock();
                    try {
                        awaitUninterruptibly(other);
                    } finally {
                        meta.lock();
                    }
                    continue;
                }
                ClusterMap.Entry e = map.entry(gc);
                if (map.inPlace(e)) { // someone allocated it meanwhile
                    host = e.host() + in;
                    mine = null;
                    reuse = true;
                } else {
                    // a zero cluster with preallocated space, or a partly allocated one, keeps its host cluster
                    reuse = e != null && !e.compressed() && (e.value() & ClusterMap.COPIED) != 0 && e.host() != 0;
                    host = reuse ? e.host() : alloc.allocate(1);
                    mine = new CountDownLatch(1);
                    inFlight.put(gc, mine);
                }
            } finally {
                meta.unlock();
            }
            if (mine == null) {
                file.write(host, data, 0);
                return;
            }
            boolean installed = false;
            try {
                ByteBuffer cluster;
                if (data.remaining() == clusterSize) {
                    cluster = data;
                } else {
                    cluster = ByteBuffer.allocate(clusterSize);
                    if (in > 0) node.readLocked(clusterStart, cluster.slice(0, in));
                    int tail = in + data.remaining();
                    if (tail < clusterSize) node.readLocked(clusterStart + tail, cluster.slice(tail, clusterSize - tail));
                    cluster.put(in, data, data.position(), data.remaining());
                }
                file.write(host, cluster, 0);
                meta.lock();
                try {
                    MetadataCache.Table t = map.writableTable(gc, alloc, writeback.pendingFrees());
                    int idx = (int) (gc & (map.l2Entries() - 1));
                    long old = t.buf.getLong(idx * map.entrySize);
                    map.set(t, idx, host | ClusterMap.COPIED, map.extended ? 0xffffffffL : 0);
                    if (!reuse) writeback.release(old);
                    installed = true;
                } finally {
                    meta.unlock();
                }
            } finally {
                meta.lock();
                try {
                    if (!installed && !reuse) alloc.adjust(host >>> clusterBits, -1);
                } finally {
                    inFlight.remove(gc);
                    mine.countDown();
                    meta.unlock();
                }
            }
            return;
        }
    }

    private static void awaitUninterruptibly(CountDownLatch l) {
        boolean interrupted = false;
        while (true) {
            try {
                l.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** Waits (releasing meta meanwhile) until no allocating write owns gc. Called with meta held. */
    void waitNotInFlight(long gc) {
        CountDownLatch other;
        while ((other = inFlight.get(gc)) != null) {
            meta.unlock();
            try {
                awaitUninterruptibly(other);
            } finally {
                meta.lock();
            }
        }
    }
}
