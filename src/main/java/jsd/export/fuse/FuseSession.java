package jsd.export.fuse;

import jsd.sys.DeviceFile;
import jsd.sys.Errno;
import jsd.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static jsd.export.fuse.FuseConstants.*;

/**
 * One mounted FUSE connection: a platform thread reads requests from
 * /dev/fuse (poll and read are foreign calls, which would pin a virtual
 * thread's carrier), answers INIT itself and hands every other request to
 * a virtual thread of its own. Each request owns a pooled direct buffer,
 * which also carries its reply; at most {@link #MAX_IN_FLIGHT} are taken at
 * once, so a busy block node slows the kernel down instead of growing
 * memory. The device is closed only when the reader and every request
 * have finished, so that no reply goes to a descriptor number reused by
 * something else.
 */
final class FuseSession {
    static final int MAX_IN_FLIGHT = 16;

    private final String name;
    private final FuseChannel channel;
    private final FileOperations ops;
    private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
    private final ConcurrentLinkedQueue<ByteBuffer> buffers = new ConcurrentLinkedQueue<>();
    /** The reader plus each running request; the device closes when it drops to zero. */
    private final AtomicInteger active = new AtomicInteger(1);
    private final AtomicInteger requests = new AtomicInteger();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean stopping;
    private volatile boolean initialized;
    private volatile Runnable afterClose = () -> { };
    private volatile boolean loggedWriteError;

    FuseSession(String name, FuseChannel channel, FileOperations ops) {
        this.name = name;
        this.channel = channel;
        this.ops = ops;
    }

    void start() {
        Thread.ofPlatform().daemon().name("fuse-" + name).start(this::readLoop);
    }

    /** Requests being served right now. */
    int requestsInFlight() { return requests.get(); }

    /** Stops reading; the device closes once the running requests are answered. */
    void stop() {
        stopping = true;
        channel.wake();
    }

    /** Waits until the device is closed; false on timeout. */
    boolean awaitClosed(long millis) throws InterruptedException {
        return closed.await(millis, TimeUnit.MILLISECONDS);
    }

    private volatile Runnable onClose = () -> { };

    /** What to release when the device closes (before {@link #afterClose}). */
    void onClose(Runnable r) { onClose = r; }

    /** What to run (once, on whichever thread ends last) after the device is closed. */
    void afterClose(Runnable r) { afterClose = r; }

    private void readLoop() {
        try {
            while (!stopping) {
                slots.acquireUninterruptibly();
                ByteBuffer buf = takeBuffer();
                boolean handedOff = false;
                try {
                    if (!channel.awaitReadable() || stopping) break;
                    int n = channel.read(buf);
                    if (n == DeviceFile.GONE) break;
                    if (n == DeviceFile.AGAIN) continue;
                    FuseRequest r = FuseRequest.parse(buf, n);
                    if (r == null) {
                        System.err.println("jsd: FUSE export '" + name + "': dropped a malformed message of " + n + " bytes");
                        continue;
                    }
                    handedOff = dispatch(r);
                } finally {
                    if (!handedOff) release(buf);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (!stopping) System.err.println("jsd: FUSE export '" + name + "': " + e.getMessage());
        } finally {
            leave();
        }
    }

    /** Answers or starts the request; true when a virtual thread now owns its buffer. */
    private boolean dispatch(FuseRequest r) {
        switch (r.opcode) {
            case FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT -> {
                // no reply expected; requests finish quickly enough not to need interrupting
                return false;
            }
            case FUSE_INIT -> {
                reply(r, serveInit(r));
                return false;
            }
            default -> {
                if (!initialized) {
                    reply(r, -Errno.EIO);
                    return false;
                }
                active.incrementAndGet();
                requests.incrementAndGet();
                Thread.ofVirtual().start(() -> {
                    try {
                        reply(r, serve(r));
                    } finally {
                        requests.decrementAndGet();
                        release(r.buffer);
                        leave();
                    }
                });
                return true;
            }
        }
    }

    private int serve(FuseRequest r) {
        try {
            if (r.nodeId != FUSE_ROOT_ID) return -Errno.ENOENT;
            return switch (r.opcode) {
                case FUSE_GETATTR -> ops.getattr(r);
                case FUSE_SETATTR -> ops.setattr(r);
                case FUSE_OPEN -> ops.open(r);
                case FUSE_RELEASE -> 0;
                case FUSE_READ -> ops.read(r);
                case FUSE_WRITE -> ops.write(r);
                case FUSE_FLUSH -> ops.flush(r);
                case FUSE_FSYNC -> ops.fsync(r);
                case FUSE_STATFS -> ops.statfs(r);
                case FUSE_FALLOCATE -> ops.fallocate(r);
                case FUSE_LSEEK -> ops.lseek(r);
                case FUSE_LOOKUP -> -Errno.ENOENT; // a regular file has no entries
                case FUSE_DESTROY -> 0;
                default -> -Errno.ENOSYS;
            };
        } catch (FuseRequest.Malformed e) {
            return -Errno.EINVAL;
        } catch (SysException e) {
            return e.errno() > 0 ? -e.errno() : -Errno.EIO;
        } catch (IOException | RuntimeException e) {
            System.err.println("jsd: FUSE export '" + name + "': opcode " + r.opcode + ": " + e);
            return -Errno.EIO;
        }
    }

    /** INIT: protocol 7.x, reads in parallel, writes up to {@link FuseConstants#MAX_TRANSFER} bytes. */
    private int serveInit(FuseRequest r) {
        try {
            r.requireBody(INIT_IN_MIN_SIZE);
            int major = r.u32(0);
            int minor = r.u32(4);
            int maxReadahead = r.u32(8);
            int offered = r.u32(12);
            ByteBuffer out = r.replyBody();
            if (major != FUSE_KERNEL_VERSION) {
                // a newer kernel asks again with our major; an older one cannot talk to us
                if (major < FUSE_KERNEL_VERSION) return -EPROTO;
                out.putInt(FUSE_KERNEL_VERSION).putInt(FUSE_KERNEL_MINOR_VERSION);
                return 8;
            }
            // AUTO_INVAL_DATA: cached pages are dropped when the attributes (looked up again once a
            // second) show a change, as with libfuse's defaults; ATOMIC_O_TRUNC: O_TRUNC comes with
            // OPEN, which ignores it, so that a shell redirection cannot empty a disk image (qsd too)
            int wanted = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC | FUSE_ASYNC_DIO | FUSE_MAX_PAGES
                    | FUSE_AUTO_INVAL_DATA;
            out.putInt(FUSE_KERNEL_VERSION).putInt(FUSE_KERNEL_MINOR_VERSION);
            out.putInt(maxReadahead);
            out.putInt(offered & wanted);
            out.putShort((short) 16).putShort((short) 12); // max_background, congestion_threshold
            out.putInt(MAX_TRANSFER);
            out.putInt(1); // time_gran: nanoseconds
            out.putShort((short) MAX_PAGES).putShort((short) 0);
            out.putInt(0); // flags2
            for (int i = 0; i < 7; i++) out.putInt(0);
            initialized = true;
            return minor < 23 ? COMPAT_22_INIT_OUT_SIZE : INIT_OUT_SIZE;
        } catch (FuseRequest.Malformed e) {
            return -Errno.EINVAL;
        }
    }

    /** Sends a reply: body of result bytes, or the error -result. A request the kernel gave up on (ENOENT) is fine. */
    void reply(FuseRequest r, int result) {
        int bodyLength = Math.max(result, 0);
        ByteBuffer out = r.buffer.duplicate().order(r.buffer.order()).clear();
        out.putInt(0, OUT_HEADER_SIZE + bodyLength);
        out.putInt(4, Math.min(result, 0));
        out.putLong(8, r.unique);
        out.limit(OUT_HEADER_SIZE + bodyLength);
        try {
            channel.write(out);
        } catch (SysException e) {
            if (e.errno() != Errno.ENOENT && !stopping && !loggedWriteError) {
                loggedWriteError = true;
                System.err.println("jsd: FUSE export '" + name + "': reply to opcode " + r.opcode + ": " + e.getMessage());
            }
        }
    }

    private ByteBuffer takeBuffer() {
        ByteBuffer b = buffers.poll();
        if (b == null) b = ByteBuffer.allocateDirect(REQUEST_BUFFER_SIZE);
        return b.clear();
    }

    private void release(ByteBuffer b) {
        buffers.offer(b);
        slots.release();
    }

    private void leave() {
        if (active.decrementAndGet() != 0) return;
        channel.close();
        onClose.run();
        buffers.clear();
        closed.countDown();
        afterClose.run();
    }
}
