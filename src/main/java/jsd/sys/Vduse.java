package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/**
 * The VDUSE character devices (linux/vduse.h, API version 0):
 * /dev/vduse/control creates and destroys devices, /dev/vduse/NAME
 * carries the kernel's requests (read/write of fixed-size messages) and
 * the per-queue and IOTLB ioctls. Struct layouts are built here byte by
 * byte, offsets as in the header on x86-64; callers see plain values.
 */
public final class Vduse {
    private Vduse() {}

    public static final String CONTROL = "/dev/vduse/control";
    public static final int NAME_MAX = 256;
    /** sizeof(struct vduse_dev_request) and sizeof(struct vduse_dev_response). */
    public static final int MESSAGE_SIZE = 152;

    // _IOC(dir, 0x81, nr, size): dir 1 = write (to the kernel), 2 = read, 3 = both
    private static long ioc(int dir, int nr, int size) { return ((long) dir << 30) | ((long) size << 16) | (0x81L << 8) | nr; }

    private static final long SET_API_VERSION = ioc(1, 0x01, 8);
    private static final int DEV_CONFIG_SIZE = 336; // struct vduse_dev_config without config[]
    private static final long CREATE_DEV = ioc(1, 0x02, DEV_CONFIG_SIZE);
    private static final long DESTROY_DEV = ioc(1, 0x03, NAME_MAX);
    private static final long IOTLB_GET_FD = ioc(3, 0x10, 32);
    private static final long DEV_GET_FEATURES = ioc(2, 0x11, 8);
    private static final long VQ_SETUP = ioc(1, 0x14, 32);
    private static final long VQ_GET_INFO = ioc(3, 0x15, 48);
    private static final long VQ_SETUP_KICKFD = ioc(1, 0x16, 8);
    private static final long VQ_INJECT_IRQ = ioc(1, 0x17, 4);

    public static final int ACCESS_RO = 1;
    public static final int ACCESS_WO = 2;
    public static final int ACCESS_RW = 3;

    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final int EINTR = 4;

    private static final MethodHandle OPEN = Libc.variadic("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), 2);
    private static final MethodHandle IOCTL = Libc.variadic("ioctl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), 2);
    private static final MethodHandle READ = Libc.fn("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle WRITE = Libc.fn("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    /** Opens a VDUSE character device read-write, non-blocking (messages are awaited with poll). */
    public static int open(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int fd = (int) OPEN.invokeExact(cap, a.allocateFrom(path), O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) throw new SysException(Libc.errno(cap), path + ": " + Errno.describe(Libc.errno(cap)));
            return fd;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int ioctl(int fd, long request, MemorySegment arg, String what) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            int r;
            do {
                r = (int) IOCTL.invokeExact(cap, fd, request, arg);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) throw new SysException(Libc.errno(cap), what + ": " + Errno.describe(Libc.errno(cap)));
            return r;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void putName(MemorySegment s, String name) {
        byte[] b = name.getBytes(StandardCharsets.UTF_8);
        if (b.length >= NAME_MAX) throw new IllegalArgumentException("name of " + b.length + " bytes");
        MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
    }

    public static void setApiVersion(int control, long version) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(8, 8);
            v.set(ValueLayout.JAVA_LONG, 0, version);
            ioctl(control, SET_API_VERSION, v, "VDUSE_SET_API_VERSION");
        }
    }

    /** VDUSE_CREATE_DEV: a device with the given virtio ids, features, queue count and configuration space. */
    public static void createDevice(int control, String name, int vendorId, int deviceId, long features, int vqNum,
                                    int vqAlign, byte[] config) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(DEV_CONFIG_SIZE + config.length, 8);
            putName(c, name);
            c.set(ValueLayout.JAVA_INT, 256, vendorId);
            c.set(ValueLayout.JAVA_INT, 260, deviceId);
            c.set(ValueLayout.JAVA_LONG, 264, features);
            c.set(ValueLayout.JAVA_INT, 272, vqNum);
            c.set(ValueLayout.JAVA_INT, 276, vqAlign);
            c.set(ValueLayout.JAVA_INT, 332, config.length);
            MemorySegment.copy(config, 0, c, ValueLayout.JAVA_BYTE, DEV_CONFIG_SIZE, config.length);
            ioctl(control, CREATE_DEV, c, "VDUSE_CREATE_DEV");
        }
    }

    public static void destroyDevice(int control, String name) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(NAME_MAX);
            putName(n, name);
            ioctl(control, DESTROY_DEV, n, "VDUSE_DESTROY_DEV");
        }
    }

    /** The features the driver negotiated (VDUSE_DEV_GET_FEATURES). */
    public static long driverFeatures(int dev) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(8, 8);
            ioctl(dev, DEV_GET_FEATURES, v, "VDUSE_DEV_GET_FEATURES");
            return v.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    public static void setupQueue(int dev, int index, int maxSize) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment q = a.allocate(32, 8);
            q.set(ValueLayout.JAVA_INT, 0, index);
            q.set(ValueLayout.JAVA_SHORT, 4, (short) maxSize);
            ioctl(dev, VQ_SETUP, q, "VDUSE_VQ_SETUP");
        }
    }

    /** struct vduse_vq_info for a split queue. */
    public record QueueInfo(int index, long num, long descAddress, long driverAddress, long deviceAddress,
                            int availIndex, boolean ready) {}

    public static QueueInfo queueInfo(int dev, int index) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment q = a.allocate(48, 8);
            q.set(ValueLayout.JAVA_INT, 0, index);
            ioctl(dev, VQ_GET_INFO, q, "VDUSE_VQ_GET_INFO");
            return new QueueInfo(index, Integer.toUnsignedLong(q.get(ValueLayout.JAVA_INT, 4)),
                    q.get(ValueLayout.JAVA_LONG, 8), q.get(ValueLayout.JAVA_LONG, 16), q.get(ValueLayout.JAVA_LONG, 24),
                    Short.toUnsignedInt(q.get(ValueLayout.JAVA_SHORT, 32)), q.get(ValueLayout.JAVA_BYTE, 40) != 0);
        }
    }

    /** Hands the kernel the eventfd it signals when the driver kicks queue index (-1: none). */
    public static void setKickFd(int dev, int index, int eventFd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(8, 4);
            e.set(ValueLayout.JAVA_INT, 0, index);
            e.set(ValueLayout.JAVA_INT, 4, eventFd);
            ioctl(dev, VQ_SETUP_KICKFD, e, "VDUSE_VQ_SETUP_KICKFD");
        }
    }

    private static final ThreadLocal<MemorySegment> IRQ = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(4, 4));

    /** Interrupts the driver for queue index (used buffers are there). */
    public static void injectIrq(int dev, int index) throws SysException {
        MemorySegment i = IRQ.get();
        i.set(ValueLayout.JAVA_INT, 0, index);
        ioctl(dev, VQ_INJECT_IRQ, i, "VDUSE_VQ_INJECT_IRQ");
    }

    /** One IOTLB entry: IOVAs [start, last] are the file's bytes from offset on, with access perm. */
    public record IotlbEntry(int fd, long offset, long start, long last, int perm) {}

    /**
     * VDUSE_IOTLB_GET_FD: the first IOTLB entry overlapping [start, last],
     * with a new descriptor of its file (the caller closes it), or null
     * when no entry covers the range (the kernel answers EINVAL).
     */
    public static IotlbEntry iotlbEntry(int dev, long start, long last) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(32, 8);
            e.set(ValueLayout.JAVA_LONG, 8, start);
            e.set(ValueLayout.JAVA_LONG, 16, last);
            int fd;
            try {
                fd = ioctl(dev, IOTLB_GET_FD, e, "VDUSE_IOTLB_GET_FD");
            } catch (SysException x) {
                if (x.errno() == Errno.EINVAL) return null;
                throw x;
            }
            return new IotlbEntry(fd, e.get(ValueLayout.JAVA_LONG, 0), e.get(ValueLayout.JAVA_LONG, 8),
                    e.get(ValueLayout.JAVA_LONG, 16), Byte.toUnsignedInt(e.get(ValueLayout.JAVA_BYTE, 24)));
        }
    }

    /** Reads one kernel request into buf (MESSAGE_SIZE bytes); false when none is pending (EAGAIN). */
    public static boolean readMessage(int dev, MemorySegment buf) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            long r;
            do {
                r = (long) READ.invokeExact(cap, dev, buf, (long) MESSAGE_SIZE);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) {
                int e = Libc.errno(cap);
                if (e == Errno.EAGAIN) return false;
                throw new SysException(e, "read VDUSE request: " + Errno.describe(e));
            }
            if (r != MESSAGE_SIZE) throw new SysException(Errno.EIO, "VDUSE request of " + r + " bytes");
            return true;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static void writeMessage(int dev, MemorySegment buf) throws SysException {
        MemorySegment cap = Libc.CAPTURE_SEG.get();
        try {
            long r;
            do {
                r = (long) WRITE.invokeExact(cap, dev, buf, (long) MESSAGE_SIZE);
            } while (r < 0 && Libc.errno(cap) == EINTR);
            if (r < 0) throw new SysException(Libc.errno(cap), "write VDUSE response: " + Errno.describe(Libc.errno(cap)));
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
