package jsd.export.virtio;

import jsd.sys.EventFd;
import jsd.sys.FdPassing;
import jsd.sys.SysException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import static jsd.export.virtio.Virtio.*;

/**
 * One split virtqueue: its set-up from the front-end's messages, and while
 * started a worker that waits on the kick eventfd, takes requests from the
 * available ring and runs each on a virtual thread; completions go to the
 * used ring (under a lock, in completion order) and signal the call eventfd
 * unless the guest asked not to be interrupted.
 *
 * The worker is a platform thread: it blocks in poll(2) through the FFM
 * API, which would pin a virtual thread's carrier for as long as the guest
 * is idle (two queues would pin both carriers of this machine).
 *
 * Ordering with the guest (another CPU writing the same rings): the
 * available index is read with acquire semantics before the ring entries
 * and descriptors it publishes; a used element is written before the used
 * index is released; a full fence separates our index stores from the
 * loads of the guest's event index and flags that decide whether to
 * notify (or, for avail_event, whether new requests raced with it).
 */
public final class Virtqueue {
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT.varHandle();
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;

    /** Signals the driver that used buffers are there, where a transport has no call eventfd (VDUSE). */
    public interface Interrupt {
        void raise() throws SysException;
    }

    public final int index;
    private final String name;
    private final String log;
    private final BlkRequests requests;

    // set-up, changed only by the session thread while the worker is stopped
    public int size;
    public long descAddress, availAddress, usedAddress;
    public boolean addressesSet;
    public int lastAvail;
    private int kickFd = -1;
    private int errFd = -1;
    private volatile boolean enabled;

    // the running state
    private Thread worker;
    private volatile boolean stopping;
    private int wakeFd = -1;
    private MemorySegment desc, avail, used;
    private boolean eventIdx;
    private boolean indirect;
    private GuestAddressSpace memory;
    private Semaphore slots;

    // completion side, under lock
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition idle = lock.newCondition();
    private int callFd = -1;
    private Interrupt interrupt;
    private int usedIdx;
    private int inFlight;

    /** name: the worker thread's; log: what the transport's messages start with ("jsd: vhost-user: "). */
    public Virtqueue(int index, String name, String log, BlkRequests requests) {
        this.index = index;
        this.name = name;
        this.log = log;
        this.requests = requests;
    }

    public boolean running() { return worker != null; }

    public void setEnabled(boolean on) {
        enabled = on;
        if (on && worker != null) wake();
    }

    /** Replaces the kick fd (-1: none); the caller restarts the worker. */
    public void setKickFd(int fd) {
        FdPassing.close(kickFd);
        kickFd = fd;
    }

    public void setErrFd(int fd) {
        FdPassing.close(errFd);
        errFd = fd;
    }

    /** Replaces the call fd at any time (the guest re-routes interrupts while running). */
    public void setCallFd(int fd) {
        lock.lock();
        try {
            FdPassing.close(callFd);
            callFd = fd;
        } finally {
            lock.unlock();
        }
    }

    /** Sets how completions are signalled when there is no call fd (set before starting). */
    public void setInterrupt(Interrupt i) {
        lock.lock();
        try {
            interrupt = i;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Starts the worker on the given memory. Throws when the ring's
     * addresses do not lie in guest memory or are misaligned.
     */
    public void start(GuestAddressSpace mem, long features) throws RingError {
        if (worker != null) throw new IllegalStateException("already running");
        if (mem == null) throw new RingError("queue " + index + " started before its memory was mapped");
        if (size == 0) throw new RingError("queue " + index + " started without a size");
        if (!addressesSet) throw new RingError("queue " + index + " started without ring addresses");
        MemorySegment d = mem.ring(descAddress, 16L * size);
        MemorySegment a = mem.ring(availAddress, 6L + 2L * size);
        MemorySegment u = mem.ring(usedAddress, 6L + 8L * size);
        if (d == null || a == null || u == null) throw new RingError("queue " + index + ": ring outside guest memory");
        if (d.address() % 16 != 0 || a.address() % 2 != 0 || u.address() % 4 != 0) {
            throw new RingError("queue " + index + ": misaligned ring");
        }
        try {
            wakeFd = EventFd.create();
        } catch (SysException e) {
            throw new RingError("queue " + index + ": " + e.getMessage());
        }
        desc = d;
        avail = a;
        used = u;
        memory = mem;
        eventIdx = (features & bit(VIRTIO_RING_F_EVENT_IDX)) != 0;
        indirect = (features & bit(VIRTIO_RING_F_INDIRECT_DESC)) != 0;
        slots = new Semaphore(size);
        usedIdx = Short.toUnsignedInt((short) U16.getAcquire(used, 2L));
        stopping = false;
        worker = Thread.ofPlatform().daemon().name(name).start(this::work);
    }

    /**
     * Stops the worker and waits until every request it started has
     * completed to the used ring: after this the queue touches no guest
     * memory and sends no notification.
     */
    public void stop() {
        Thread w = worker;
        if (w == null) return;
        stopping = true;
        wake();
        boolean interrupted = false;
        while (true) {
            try {
                w.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        lock.lock();
        try {
            while (inFlight > 0) idle.awaitUninterruptibly();
        } finally {
            lock.unlock();
        }
        FdPassing.close(wakeFd);
        wakeFd = -1;
        worker = null;
        desc = avail = used = null;
        memory = null;
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** Stops and forgets every descriptor (connection end, reset). */
    public void reset() {
        stop();
        setKickFd(-1);
        setCallFd(-1);
        setErrFd(-1);
        enabled = false;
        size = 0;
        addressesSet = false;
        lastAvail = 0;
    }

    private void wake() {
        int fd = wakeFd;
        if (fd < 0) return;
        try {
            EventFd.signal(fd);
        } catch (SysException e) {
            throw new IllegalStateException(e);
        }
    }

    private void work() {
        try {
            process(); // requests made available before the kick fd came
            while (!stopping) {
                short[] ev = EventFd.poll(kickFd, wakeFd);
                if (stopping) break;
                if ((ev[0] & (EventFd.POLLERR | EventFd.POLLNVAL)) != 0) {
                    System.err.println(log + name + ": kick descriptor failed; queue stopped");
                    return;
                }
                if ((ev[0] & EventFd.POLLIN) != 0) EventFd.drain(kickFd);
                if ((ev[1] & EventFd.POLLIN) != 0) EventFd.drain(wakeFd);
                process();
            }
        } catch (RingError e) {
            System.err.println(log + name + ": " + e.getMessage() + "; queue stopped");
            signalError();
        } catch (SysException | RuntimeException | InternalError e) {
            // InternalError: the JVM's answer to SIGBUS, when the front-end shrank the file behind guest memory
            System.err.println(log + name + " failed: " + e + "; queue stopped");
            signalError();
        }
    }

    private void signalError() {
        if (errFd < 0) return;
        try {
            EventFd.signal(errFd);
        } catch (SysException ignored) {
            // the front-end went away
        }
    }

    /** Takes every available request and starts it. */
    private void process() throws RingError {
        if (!enabled) return;
        while (!stopping) {
            int availIdx = Short.toUnsignedInt((short) U16.getAcquire(avail, 2L));
            if (availIdx == lastAvail) {
                if (!eventIdx) return;
                // tell the guest which index to kick at next, then look again: it may have
                // added a request before it could see the new avail_event
                used.set(SHORT, 4L + 8L * size, (short) lastAvail);
                VarHandle.fullFence();
                if (Short.toUnsignedInt((short) U16.getAcquire(avail, 2L)) == lastAvail) return;
                continue;
            }
            if (((availIdx - lastAvail) & 0xffff) > size) {
                throw new RingError("available index moved " + ((availIdx - lastAvail) & 0xffff) + " entries in a ring of " + size);
            }
            int head = Short.toUnsignedInt(avail.get(SHORT, 4L + 2L * (lastAvail % size)));
            DescriptorChain chain = DescriptorChain.walk(desc, size, head, memory, indirect);
            lastAvail = (lastAvail + 1) & 0xffff;
            slots.acquireUninterruptibly();
            boolean alone;
            lock.lock();
            try {
                alone = inFlight == 0 && availIdx == lastAvail;
                inFlight++;
            } finally {
                lock.unlock();
            }
            if (alone) {
                // the only request (queue depth 1): handing it to a virtual thread costs more
                // than it saves; a kick meanwhile stays counted in the eventfd
                execute(chain);
            } else {
                Thread.ofVirtual().start(() -> execute(chain));
            }
        }
    }

    private void execute(DescriptorChain chain) {
        int len = 0;
        try {
            len = requests.run(chain);
        } catch (RuntimeException | InternalError e) {
            System.err.println(log + name + ": request failed: " + e);
        } finally {
            complete(chain.head(), len);
        }
    }

    private void complete(int head, int len) {
        lock.lock();
        try {
            int slot = usedIdx % size;
            used.set(INT, 4L + 8L * slot, head);
            used.set(INT, 8L + 8L * slot, len);
            int old = usedIdx;
            usedIdx = (usedIdx + 1) & 0xffff;
            U16.setRelease(used, 2L, (short) usedIdx);
            VarHandle.fullFence();
            boolean notify;
            if (eventIdx) {
                int event = Short.toUnsignedInt(avail.get(SHORT, 4L + 2L * size));
                notify = ((usedIdx - event - 1) & 0xffff) < ((usedIdx - old) & 0xffff);
            } else {
                notify = (avail.get(SHORT, 0L) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
            }
            if (notify && (callFd >= 0 || interrupt != null)) {
                try {
                    if (callFd >= 0) EventFd.signal(callFd);
                    else interrupt.raise();
                } catch (SysException e) {
                    System.err.println(log + name + ": call: " + e.getMessage());
                }
            }
        } catch (RuntimeException | InternalError e) {
            System.err.println(log + name + ": completion failed: " + e);
        } finally {
            inFlight--;
            if (inFlight == 0) idle.signalAll();
            lock.unlock();
            slots.release();
        }
    }
}
