package jsd.export.vduse;

import jsd.export.virtio.BlkDevice;
import jsd.export.virtio.BlkRequests;
import jsd.export.virtio.RingError;
import jsd.export.virtio.Virtqueue;
import jsd.sys.EventFd;
import jsd.sys.FdPassing;
import jsd.sys.SysException;
import jsd.sys.Vduse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static jsd.export.virtio.Virtio.*;

/**
 * One VDUSE virtio-blk device: created through /dev/vduse/control, then
 * driven by the kernel's requests on /dev/vduse/NAME, which a platform
 * thread reads (poll, so that closing can wake it). When the driver sets
 * DRIVER_OK the queues' addresses come from VDUSE_VQ_GET_INFO and each
 * ready queue starts on the shared virtqueue code; a reset stops them
 * and unmaps the driver's memory. A queue the driver set up badly stops
 * alone (its requests are never answered, as with a broken ring under
 * vhost-user); the daemon and the other queues carry on.
 */
final class VduseDevice {
    private static final int VIRTIO_ID_BLOCK = 2;
    private static final int VENDOR_ID = 0;
    private static final int VQ_ALIGN = 4096;
    private static final int DRIVER_OK = 4;

    private static final int GET_VQ_STATE = 0;
    private static final int SET_STATUS = 1;
    private static final int UPDATE_IOTLB = 2;
    private static final int RESULT_OK = 0;
    private static final int RESULT_FAILED = 1;

    final String name;
    private final String log;
    private final BlkDevice device;
    private final long features;
    private final int queueSize;
    private final Virtqueue[] queues;
    private final int control;
    private final int dev;
    private final int wakeFd;
    private final IovaMemory memory;
    private final Thread thread;
    private volatile boolean closing;
    private volatile int status; // written by the message thread only

    /**
     * Creates the device and starts answering the kernel. Throws with the
     * kernel's reason when VDUSE is missing or refuses the device; nothing
     * is left behind then.
     */
    VduseDevice(String exportId, String name, BlkDevice device, long features, int queueSize) throws SysException {
        this.name = name;
        this.log = "jsd: vduse-blk export '" + exportId + "': ";
        this.device = device;
        this.features = features;
        this.queueSize = queueSize;
        this.queues = new Virtqueue[device.numQueues];
        int c = Vduse.open(Vduse.CONTROL);
        int d = -1;
        int w = -1;
        boolean created = false;
        try {
            Vduse.setApiVersion(c, 0);
            byte[] config;
            try {
                config = device.config();
            } catch (java.io.IOException e) {
                throw new SysException(jsd.sys.Errno.EIO, "size of the node: " + e.getMessage());
            }
            Vduse.createDevice(c, name, VENDOR_ID, VIRTIO_ID_BLOCK, features, queues.length, VQ_ALIGN, config);
            created = true;
            d = Vduse.open("/dev/vduse/" + name);
            for (int i = 0; i < queues.length; i++) Vduse.setupQueue(d, i, queueSize);
            w = EventFd.create();
        } catch (SysException | RuntimeException e) {
            if (d >= 0) FdPassing.close(d);
            if (created) {
                try {
                    Vduse.destroyDevice(c, name);
                } catch (SysException ignored) {
                    // reported by the caller's error already
                }
            }
            FdPassing.close(c);
            throw e;
        }
        this.control = c;
        this.dev = d;
        this.wakeFd = w;
        this.memory = new IovaMemory(d, log);
        BlkRequests requests = new BlkRequests(device);
        for (int i = 0; i < queues.length; i++) {
            int index = i;
            queues[i] = new Virtqueue(i, "jsd-vduse-" + exportId + "-vq" + i, log, requests);
            queues[i].setInterrupt(() -> Vduse.injectIrq(dev, index));
        }
        this.thread = Thread.ofPlatform().daemon().name("jsd-vduse-" + exportId).start(this::messageLoop);
    }

    /** Whether a driver is using the device (DRIVER_OK and no reset since). */
    boolean driverActive() { return (status & DRIVER_OK) != 0; }

    private void messageLoop() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(Vduse.MESSAGE_SIZE, 8);
            MemorySegment resp = a.allocate(Vduse.MESSAGE_SIZE, 8);
            while (!closing) {
                short[] ev = EventFd.poll(dev, wakeFd);
                if (closing) break;
                if ((ev[0] & (EventFd.POLLERR | EventFd.POLLNVAL)) != 0) {
                    System.err.println(log + "VDUSE device " + name + " failed");
                    break;
                }
                if ((ev[0] & EventFd.POLLIN) == 0) continue;
                while (!closing && Vduse.readMessage(dev, req)) {
                    resp.fill((byte) 0);
                    resp.set(ValueLayout.JAVA_INT, 0, req.get(ValueLayout.JAVA_INT, 4)); // request_id
                    resp.set(ValueLayout.JAVA_INT, 4, handle(req, resp) ? RESULT_OK : RESULT_FAILED);
                    Vduse.writeMessage(dev, resp);
                }
            }
        } catch (SysException | RuntimeException e) {
            if (!closing) System.err.println(log + "VDUSE device " + name + ": " + e.getMessage() + "; device stopped");
        } finally {
            stopQueues();
        }
    }

    private boolean handle(MemorySegment req, MemorySegment resp) {
        int type = req.get(ValueLayout.JAVA_INT, 0);
        switch (type) {
            case GET_VQ_STATE -> {
                int index = req.get(ValueLayout.JAVA_INT, 24);
                if (index < 0 || index >= queues.length) return false;
                resp.set(ValueLayout.JAVA_INT, 24, index);
                resp.set(ValueLayout.JAVA_SHORT, 28, (short) queues[index].lastAvail);
                return true;
            }
            case SET_STATUS -> {
                int s = Byte.toUnsignedInt(req.get(ValueLayout.JAVA_BYTE, 24));
                boolean wasOk = (status & DRIVER_OK) != 0;
                status = s;
                if (s == 0) {
                    stopQueues(); // reset: the driver's memory and rings are gone
                    memory.clear();
                } else if ((s & DRIVER_OK) != 0 && !wasOk) {
                    startQueues();
                }
                return true;
            }
            case UPDATE_IOTLB -> {
                long start = req.get(ValueLayout.JAVA_LONG, 24);
                long last = req.get(ValueLayout.JAVA_LONG, 32);
                // queues may hold rings in the range: stop them around the change, then map afresh
                boolean[] running = new boolean[queues.length];
                for (int i = 0; i < queues.length; i++) {
                    running[i] = queues[i].running();
                    queues[i].stop();
                }
                memory.invalidate(start, last);
                long negotiated = negotiated();
                for (int i = 0; i < queues.length; i++) if (running[i]) start(queues[i], negotiated);
                return true;
            }
            default -> {
                System.err.println(log + "unknown VDUSE request type " + Integer.toUnsignedString(type));
                return false;
            }
        }
    }

    private long negotiated() {
        try {
            return Vduse.driverFeatures(dev) & features;
        } catch (SysException e) {
            System.err.println(log + e.getMessage());
            return 0;
        }
    }

    private void startQueues() {
        long negotiated = negotiated();
        for (Virtqueue q : queues) {
            Vduse.QueueInfo info;
            try {
                info = Vduse.queueInfo(dev, q.index);
            } catch (SysException e) {
                System.err.println(log + "queue " + q.index + ": " + e.getMessage());
                continue;
            }
            if (!info.ready()) continue;
            if (info.num() < 1 || info.num() > queueSize) {
                System.err.println(log + "queue " + q.index + " of size " + info.num() + " (at most " + queueSize + "); queue stopped");
                continue;
            }
            q.reset();
            q.size = (int) info.num();
            q.descAddress = info.descAddress();
            q.availAddress = info.driverAddress();
            q.usedAddress = info.deviceAddress();
            q.addressesSet = true;
            q.lastAvail = info.availIndex();
            int kick;
            try {
                kick = EventFd.create();
                try {
                    Vduse.setKickFd(dev, q.index, kick);
                } catch (SysException e) {
                    FdPassing.close(kick);
                    throw e;
                }
            } catch (SysException e) {
                System.err.println(log + "queue " + q.index + ": " + e.getMessage());
                continue;
            }
            q.setKickFd(kick);
            q.setEnabled(true);
            start(q, negotiated);
        }
    }

    private void start(Virtqueue q, long negotiated) {
        try {
            q.start(memory, negotiated);
        } catch (RingError e) {
            System.err.println(log + e.getMessage() + "; queue stopped");
        }
    }

    /** Stops every queue and waits for its requests; keeps the kick descriptors (reset() closes them). */
    private void stopQueues() {
        for (Virtqueue q : queues) q.stop();
    }

    /**
     * Stops answering the kernel, stops the queues (their requests
     * finish first), unmaps the driver's memory and destroys the device.
     * Returns a message when the kernel refused to destroy it (it is
     * still attached to the vDPA bus: `vdpa dev del` first).
     */
    String close() {
        closing = true;
        try {
            EventFd.signal(wakeFd);
        } catch (SysException ignored) {
            // the thread notices closing at its next wake-up
        }
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        for (Virtqueue q : queues) {
            q.reset();
            try {
                Vduse.setKickFd(dev, q.index, -1);
            } catch (SysException ignored) {
                // the device is going away anyway
            }
        }
        memory.clear();
        FdPassing.close(dev);
        FdPassing.close(wakeFd);
        String problem = null;
        try {
            Vduse.destroyDevice(control, name);
        } catch (SysException e) {
            problem = e.getMessage();
        }
        FdPassing.close(control);
        if (interrupted) Thread.currentThread().interrupt();
        return problem;
    }
}
