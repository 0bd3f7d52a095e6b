package jsd.export.nbd;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.block.DirtyBitmap;
import jsd.export.BlockExport;
import jsd.export.ExportRegistry;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static jsd.export.nbd.NbdConstants.*;

/**
 * A block node offered by the NBD server under a name. Clients attach to it
 * when they select it (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) and detach when
 * their connection ends; once it is shutting down and the last one has
 * gone, it reports itself finished to the registry.
 */
final class NbdExport extends BlockExport {
    private final NbdServer server;
    private final String name;
    private final String description;
    private final boolean allocationDepth;
    private final List<DirtyBitmap> bitmaps;
    private final Runnable releaseBitmaps;
    private final int flags;
    private final Set<ClientSession> clients = new LinkedHashSet<>();
    private ExportRegistry finishing; // set once shutdown was requested
    private static final java.util.concurrent.atomic.AtomicLong SEQUENCE = new java.util.concurrent.atomic.AtomicLong();
    private final long sequence = SEQUENCE.incrementAndGet();

    NbdExport(ObjectNode options, BlockNode node, NbdServer server, String name, String description,
              boolean allocationDepth, List<DirtyBitmap> bitmaps, Runnable releaseBitmaps) {
        super(options, node);
        this.bitmaps = List.copyOf(bitmaps);
        this.releaseBitmaps = releaseBitmaps;
        this.server = server;
        this.name = name;
        this.description = description;
        this.allocationDepth = allocationDepth;
        int f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;
        // several connections see one another's writes and flushes: they share one node
        if (server.maxConnections() != 1) f |= NBD_FLAG_CAN_MULTI_CONN;
        if (writable()) f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
        else f |= NBD_FLAG_READ_ONLY;
        this.flags = f;
    }

    String name() { return name; }

    /** Creation order (NBD_OPT_LIST lists exports oldest first). */
    long sequence() { return sequence; }

    String description() { return description; }

    boolean allocationDepth() { return allocationDepth; }

    /** The dirty bitmaps offered as qemu:dirty-bitmap:NAME contexts; busy while the export exists. */
    List<DirtyBitmap> bitmaps() { return bitmaps; }

    /** Frees the bitmaps (before the deletion event, so that they can be used after it) and tells the registry. */
    private void finish(ExportRegistry registry) {
        releaseBitmaps.run();
        registry.finished(this);
    }

    NbdServer server() { return server; }

    /** Transmission flags; DF is added per connection when structured replies are on. */
    int flags() { return flags; }

    /** Adds a client that selected this export; false once the export is going away. */
    synchronized boolean attach(ClientSession c) {
        if (finishing != null || shuttingDown()) return false;
        clients.add(c);
        return true;
    }

    void detach(ClientSession c) {
        ExportRegistry done;
        synchronized (this) {
            if (!clients.remove(c)) return;
            done = clients.isEmpty() ? finishing : null;
        }
        if (done != null) finish(done);
    }

    @Override
    public synchronized boolean inUse() { return !clients.isEmpty(); }

    @Override
    protected void shutdown(boolean hard, ExportRegistry registry) {
        server.removeExport(this);
        List<ClientSession> toClose;
        boolean idle;
        synchronized (this) {
            finishing = registry;
            idle = clients.isEmpty();
            toClose = hard ? new ArrayList<>(clients) : List.of();
        }
        for (ClientSession c : toClose) c.close();
        if (idle) finish(registry);
    }
}
