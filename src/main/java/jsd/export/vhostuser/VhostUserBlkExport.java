package jsd.export.vhostuser;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.export.BlockExport;
import jsd.export.ExportRegistry;
import jsd.export.virtio.BlkDevice;
import jsd.sys.FdPassing;
import jsd.sys.SysException;

/**
 * A vhost-user-blk export: a unix socket on which one front-end at a time
 * (a QEMU process) connects and drives the virtio-blk device. As in
 * qemu-storage-daemon, further front-ends wait in the listen backlog
 * until the current one disconnects, a connected front-end does not make
 * the export "in use" (a safe delete disconnects it), and the socket file
 * goes away with the export.
 */
final class VhostUserBlkExport extends BlockExport {
    /** How long a delete waits for the front-end's requests to finish before replying. */
    private static final long END_WAIT_MS = 5_000;
    /** What GET_ID answers, as qemu-storage-daemon's vhost-user-blk does. */
    private static final String SERIAL = "vhost_user_blk";

    private final BlkDevice device;
    private final FrontendListener listener;
    private final Thread acceptor;
    private FrontendSession session;      // guarded by this
    private ExportRegistry finishing;     // guarded by this; set once shutdown was requested

    VhostUserBlkExport(ObjectNode options, BlockNode node, int logicalBlockSize, int numQueues, FrontendListener listener) {
        super(options, node);
        this.device = new BlkDevice(node, writable(), writethrough(), logicalBlockSize, numQueues, BlkDevice.SEG_MAX, SERIAL);
        this.listener = listener;
        this.acceptor = Thread.ofPlatform().daemon().name("jsd-vhost-user-" + id()).unstarted(this::acceptLoop);
        acceptor.start();
    }

    private void acceptLoop() {
        try {
            while (true) {
                int c;
                try {
                    c = listener.accept();
                } catch (SysException e) {
                    System.err.println("jsd: vhost-user-blk export '" + id() + "': accept failed: " + e.getMessage());
                    return;
                }
                if (c < 0) return; // the listener was closed: the export is going away
                FrontendSession s;
                synchronized (this) {
                    if (finishing != null) {
                        FdPassing.close(c);
                        return;
                    }
                    s = new FrontendSession(this, device, c);
                    session = s;
                }
                s.run(); // one front-end at a time; the next waits in the listen backlog
            }
        } finally {
            listener.release();
        }
    }

    /** Called by a session's thread once its connection is gone and its resources released. */
    void sessionEnded(FrontendSession s) {
        ExportRegistry r;
        synchronized (this) {
            if (session == s) session = null;
            r = finishing;
        }
        if (r != null) r.finished(this); // a second report is ignored by the registry
    }

    @Override
    public boolean inUse() {
        return false; // as in qemu-storage-daemon: a safe delete disconnects the front-end
    }

    @Override
    protected void shutdown(boolean hard, ExportRegistry registry) {
        FrontendSession s;
        synchronized (this) {
            finishing = registry;
            s = session;
        }
        listener.close();
        if (s != null) {
            s.close();
            boolean ended;
            try {
                ended = s.awaitEnd(END_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                ended = false;
            }
            if (!ended) return; // the session reports when its last request is done
        }
        registry.finished(this);
    }
}
