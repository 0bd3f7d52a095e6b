package jsd.export.fuse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.export.BlockExport;
import jsd.export.ExportRegistry;
import jsd.sys.Mounts;
import jsd.sys.SysException;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A block node shown as one regular file mounted over an existing one.
 * FUSE has no clients to count (open files are the kernel's business), so,
 * as in qemu-storage-daemon, a safe delete is refused only while a request
 * is being served. Both deletes unmount at once (lazily: open files keep
 * the old mount until closed, and see ENOTCONN) and report
 * BLOCK_EXPORT_DELETED once the connection is closed.
 */
final class FuseExport extends BlockExport {
    /** How long block-export-del waits for running requests, so the event usually precedes the reply. */
    private static final long CLOSE_WAIT_MS = 2000;

    private final String mountpoint;
    private final FuseSession session;
    private final Runnable releaseMountpoint;
    private final AtomicBoolean reported = new AtomicBoolean();
    private volatile boolean finishLater;
    private volatile boolean mounted = true;

    FuseExport(ObjectNode options, BlockNode node, String mountpoint, FuseSession session, Runnable releaseMountpoint) {
        super(options, node);
        this.mountpoint = mountpoint;
        this.session = session;
        this.releaseMountpoint = releaseMountpoint;
    }

    @Override
    public boolean inUse() { return session.requestsInFlight() > 0; }

    @Override
    protected void shutdown(boolean hard, ExportRegistry registry) {
        unmount();
        releaseMountpoint.run();
        session.afterClose(() -> {
            if (finishLater && reported.compareAndSet(false, true)) registry.finished(this);
        });
        session.stop();
        boolean closed;
        try {
            closed = session.awaitClosed(CLOSE_WAIT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = false;
        }
        if (!closed) {
            finishLater = true;
            try {
                closed = session.awaitClosed(0);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (closed && reported.compareAndSet(false, true)) registry.finished(this);
    }

    /** Detaches the mount; open files keep it until closed. */
    private void unmount() {
        if (!mounted) return;
        mounted = false;
        try {
            Mounts.umount2(mountpoint, Mounts.MNT_DETACH);
        } catch (SysException e) {
            System.err.println("jsd: FUSE export '" + id() + "': unmounting " + mountpoint + ": " + e.getMessage());
        }
    }
}
