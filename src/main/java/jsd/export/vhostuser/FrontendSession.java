package jsd.export.vhostuser;

import jsd.export.virtio.BlkDevice;
import jsd.export.virtio.BlkRequests;
import jsd.export.virtio.RingError;
import jsd.export.virtio.Virtqueue;
import jsd.sys.FdPassing;
import jsd.sys.SysException;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CountDownLatch;

import static jsd.export.vhostuser.VhostUser.*;
import static jsd.export.virtio.Virtio.*;

/**
 * One connected front-end (a QEMU process): reads its messages in order
 * and applies them to the device's queues. Any message that breaks the
 * protocol (unknown request, wrong size, missing or surplus descriptors,
 * addresses outside the shared memory) ends this connection, never the
 * daemon: the queues are stopped, the memory unmapped, every descriptor
 * closed.
 */
final class FrontendSession implements Runnable {
    private final VhostUserBlkExport export;
    private final BlkDevice device;
    private final int fd;
    private final Virtqueue[] queues;
    private final BlkRequests requests;
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile boolean closing;
    private boolean socketClosed;

    private long features;
    private boolean enableAll;
    private long protocolFeatures;
    private GuestMemory memory;

    FrontendSession(VhostUserBlkExport export, BlkDevice device, int fd) {
        this.export = export;
        this.device = device;
        this.fd = fd;
        this.queues = new Virtqueue[device.numQueues];
        this.requests = new BlkRequests(device);
    }

    /** Drops the connection (export deleted or daemon exit); the session ends on its own thread. */
    synchronized void close() {
        closing = true;
        // once the socket is closed its number may belong to someone else
        if (!socketClosed) FdPassing.shutdown(fd);
    }

    boolean awaitEnd(long millis) throws InterruptedException {
        return ended.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    @Override
    public void run() {
        try (MessageChannel channel = new MessageChannel(fd)) {
            while (true) {
                Message m = channel.read();
                if (m == null) break;
                try {
                    handle(channel, m);
                } finally {
                    m.closeUnusedFds();
                }
            }
        } catch (ProtocolError e) {
            System.err.println("jsd: vhost-user-blk export '" + export.id() + "': " + e.getMessage() + "; connection closed");
        } catch (EOFException e) {
            if (!closing) System.err.println("jsd: vhost-user-blk export '" + export.id() + "': " + e.getMessage());
        } catch (SysException | RuntimeException e) {
            if (!closing) System.err.println("jsd: vhost-user-blk export '" + export.id() + "': connection failed: " + e);
        } finally {
            teardown();
            ended.countDown();
            export.sessionEnded(this);
        }
    }

    private void teardown() {
        for (Virtqueue q : queues) if (q != null) q.reset();
        if (memory != null) memory.close();
        memory = null;
        synchronized (this) {
            socketClosed = true;
            FdPassing.close(fd);
        }
    }

    private Virtqueue queue(int index) throws ProtocolError {
        if (index < 0 || index >= queues.length) {
            throw new ProtocolError("queue index " + index + " but the device has " + queues.length + " queue(s)");
        }
        Virtqueue q = queues[index];
        if (q == null) {
            // created when first named: a device may have up to 65535 queues
            queues[index] = q = new Virtqueue(index, "jsd-vhost-user-" + export.id() + "-vq" + index, "jsd: vhost-user: ", requests);
            if (enableAll) q.setEnabled(true);
        }
        return q;
    }

    private boolean replyAck() { return (protocolFeatures & bit(PROTOCOL_F_REPLY_ACK)) != 0; }

    private void handle(MessageChannel ch, Message m) throws ProtocolError, SysException {
        long ack = 0; // REPLY_ACK status: 0 success
        switch (m.request) {
            case GET_FEATURES -> {
                m.expectSize(0);
                ch.replyU64(m.request, offered());
                return;
            }
            case SET_FEATURES -> {
                m.expectSize(8);
                features = m.u64(0) & offered();
                // without protocol features, rings are enabled from the start
                enableAll = (features & bit(VHOST_USER_F_PROTOCOL_FEATURES)) == 0;
                if (enableAll) for (Virtqueue q : queues) if (q != null) q.setEnabled(true);
            }
            case GET_PROTOCOL_FEATURES -> {
                m.expectSize(0);
                ch.replyU64(m.request, PROTOCOL_FEATURES);
                return;
            }
            case SET_PROTOCOL_FEATURES -> {
                m.expectSize(8);
                protocolFeatures = m.u64(0) & PROTOCOL_FEATURES;
            }
            case SET_OWNER -> m.expectSize(0);
            case RESET_OWNER, RESET_DEVICE -> {
                for (Virtqueue q : queues) if (q != null) q.reset();
                features = 0;
                enableAll = false;
            }
            case GET_QUEUE_NUM -> {
                m.expectSize(0);
                ch.replyU64(m.request, queues.length);
                return;
            }
            case SET_MEM_TABLE -> setMemTable(m);
            case SET_VRING_NUM -> {
                m.expectSize(8);
                Virtqueue q = queue(m.u32(0));
                int num = m.u32(4);
                if (num <= 0 || num > MAX_QUEUE_SIZE || Integer.bitCount(num) != 1) {
                    throw new ProtocolError("queue " + q.index + " with size " + Integer.toUnsignedString(num));
                }
                reconfigure(q, () -> q.size = num);
            }
            case SET_VRING_ADDR -> {
                m.expectSize(40);
                Virtqueue q = queue(m.u32(0));
                long d = m.u64(8), u = m.u64(16), a = m.u64(24);
                reconfigure(q, () -> {
                    q.descAddress = d;
                    q.usedAddress = u;
                    q.availAddress = a;
                    q.addressesSet = true;
                });
            }
            case SET_VRING_BASE -> {
                m.expectSize(8);
                Virtqueue q = queue(m.u32(0));
                int base = m.u32(4);
                if (base < 0 || base > 0xffff) throw new ProtocolError("queue " + q.index + " base " + Integer.toUnsignedString(base));
                reconfigure(q, () -> q.lastAvail = base);
            }
            case GET_VRING_BASE -> {
                m.expectSize(8);
                Virtqueue q = queue(m.u32(0));
                q.stop();
                q.setKickFd(-1);
                q.setCallFd(-1);
                ByteBuffer r = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                r.putInt(0, q.index).putInt(4, q.lastAvail);
                ch.reply(m.request, r.array());
                return;
            }
            case SET_VRING_KICK -> {
                Virtqueue q = vringFd(m);
                if ((m.u64(0) & VRING_NOFD) != 0) throw new ProtocolError("queue " + q.index + ": polling without a kick descriptor is not supported");
                q.stop();
                q.setKickFd(m.takeFd(0));
                start(q);
            }
            case SET_VRING_CALL -> {
                Virtqueue q = vringFd(m);
                q.setCallFd((m.u64(0) & VRING_NOFD) != 0 ? -1 : m.takeFd(0));
            }
            case SET_VRING_ERR -> {
                Virtqueue q = vringFd(m);
                int errFd = (m.u64(0) & VRING_NOFD) != 0 ? -1 : m.takeFd(0);
                reconfigure(q, () -> q.setErrFd(errFd));
            }
            case SET_VRING_ENABLE -> {
                m.expectSize(8);
                Virtqueue q = queue(m.u32(0));
                int on = m.u32(4);
                if (on != 0 && on != 1) throw new ProtocolError("SET_VRING_ENABLE with " + Integer.toUnsignedString(on));
                q.setEnabled(on == 1);
            }
            case GET_CONFIG -> {
                getConfig(ch, m);
                return;
            }
            case SET_CONFIG -> ack = setConfig(m) ? 0 : 1;
            default -> throw new ProtocolError("unsupported request " + m.request);
        }
        if (m.needReply() && replyAck()) ch.replyU64(m.request, ack);
    }

    /** SET_VRING_KICK/CALL/ERR: a u64 with the queue index, and one descriptor unless bit 8 says none. */
    private Virtqueue vringFd(Message m) throws ProtocolError {
        m.expectSize(8);
        long v = m.u64(0);
        if ((v & ~0x1ffL) != 0) throw new ProtocolError(requestName(m.request) + " with payload 0x" + Long.toHexString(v));
        m.expectFds((v & VRING_NOFD) != 0 ? 0 : 1);
        return queue((int) (v & 0xff));
    }

    /** The device's virtio-blk features plus what vhost-user-blk adds (the guest's cache switch, several queues). */
    private long offered() {
        return device.features() | bit(VIRTIO_BLK_F_CONFIG_WCE) | bit(VIRTIO_BLK_F_MQ) | bit(VHOST_USER_F_PROTOCOL_FEATURES);
    }

    private static final long PROTOCOL_FEATURES = bit(PROTOCOL_F_MQ) | bit(PROTOCOL_F_REPLY_ACK) | bit(PROTOCOL_F_CONFIG);

    private void start(Virtqueue q) throws ProtocolError {
        if (memory == null) throw new ProtocolError("queue " + q.index + " started before SET_MEM_TABLE");
        if (q.size == 0) throw new ProtocolError("queue " + q.index + " started without SET_VRING_NUM");
        if (!q.addressesSet) throw new ProtocolError("queue " + q.index + " started without SET_VRING_ADDR");
        try {
            q.start(memory, features);
        } catch (RingError e) {
            throw new ProtocolError(e.getMessage());
        }
    }

    /** Applies a change to a queue's set-up, stopping and restarting its worker around it. */
    private void reconfigure(Virtqueue q, Runnable change) throws ProtocolError {
        boolean wasRunning = q.running();
        q.stop();
        change.run();
        if (wasRunning) start(q);
    }

    private void setMemTable(Message m) throws ProtocolError {
        GuestMemory next = GuestMemory.map(m);
        // rings in the old memory stop (their requests complete) before it is unmapped
        boolean[] wasRunning = new boolean[queues.length];
        for (int i = 0; i < queues.length; i++) {
            Virtqueue q = queues[i];
            if (q != null && q.running()) {
                wasRunning[i] = true;
                q.stop();
            }
        }
        GuestMemory old = memory;
        memory = next;
        if (old != null) old.close();
        for (int i = 0; i < queues.length; i++) if (wasRunning[i]) start(queues[i]);
    }

    private void getConfig(MessageChannel ch, Message m) throws ProtocolError, SysException {
        if (m.size() < 12) throw new ProtocolError("GET_CONFIG shorter than its header");
        int offset = m.u32(0);
        int size = m.u32(4);
        if (size < 0 || size > MAX_CONFIG_SIZE) throw new ProtocolError("GET_CONFIG of " + Integer.toUnsignedString(size) + " bytes");
        m.expectSize(12 + size);
        if (offset < 0 || offset > MAX_CONFIG_SIZE - size) {
            ch.reply(m.request, new byte[0]); // a zero-length reply is the protocol's error
            return;
        }
        byte[] config;
        try {
            config = device.config();
        } catch (IOException e) {
            ch.reply(m.request, new byte[0]);
            return;
        }
        byte[] reply = new byte[12 + size];
        ByteBuffer.wrap(reply).order(ByteOrder.LITTLE_ENDIAN).putInt(0, offset).putInt(4, size).putInt(8, m.u32(8));
        // fields past the ones we know read as zero
        if (offset < config.length) System.arraycopy(config, offset, reply, 12, Math.min(size, config.length - offset));
        ch.reply(m.request, reply);
    }

    /** SET_CONFIG: only the guest's write-cache switch is writable. */
    private boolean setConfig(Message m) throws ProtocolError {
        if (m.size() < 12) throw new ProtocolError("SET_CONFIG shorter than its header");
        int offset = m.u32(0);
        int size = m.u32(4);
        int flags = m.u32(8);
        if (size < 0 || size > MAX_CONFIG_SIZE) throw new ProtocolError("SET_CONFIG of " + Integer.toUnsignedString(size) + " bytes");
        m.expectSize(12 + size);
        if (flags != 0 || offset != BlkDevice.CONFIG_WCE_OFFSET || size != 1) return false;
        device.writeCache = m.payload.get(12) != 0;
        return true;
    }
}
