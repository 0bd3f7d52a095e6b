package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * mount(2), umount2(2) and the few facts about a path that mounting needs
 * (statx: type, mode, allocated blocks; the daemon's uid/gid). Errors carry
 * their errno.
 */
public final class Mounts {
    private Mounts() {}

    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    /** umount2 flag: detach now, finish once the last open file is closed. */
    public static final int MNT_DETACH = 2;
    public static final int S_IFMT = 0170000;
    public static final int S_IFREG = 0100000;

    private static final int AT_FDCWD = -100;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_TYPE = 0x1;
    private static final int STATX_MODE = 0x2;
    private static final int STATX_BLOCKS = 0x400;
    private static final int STATX_SIZE_OF_STRUCT = 256;

    private static final MethodHandle MOUNT = Libc.fn("mount", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
    private static final MethodHandle UMOUNT2 = Libc.fn("umount2",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle STATX = Libc.fn("statx", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle GETUID = Libc.fn("getuid", FunctionDescriptor.of(ValueLayout.JAVA_INT));
    private static final MethodHandle GETGID = Libc.fn("getgid", FunctionDescriptor.of(ValueLayout.JAVA_INT));

    /** mount(2); data is the file system's option string. */
    public static void mount(String source, String target, String type, long flags, String data) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r = (int) MOUNT.invokeExact(cap, a.allocateFrom(source), a.allocateFrom(target), a.allocateFrom(type),
                    flags, a.allocateFrom(data));
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, "mount: " + Errno.describe(e));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** umount2(2). */
    public static void umount2(String target, int flags) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r = (int) UMOUNT2.invokeExact(cap, a.allocateFrom(target), flags);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, "umount2: " + Errno.describe(e));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** What statx(2) says about a path (following symbolic links). */
    public record Stat(int mode, long blocks) {
        public boolean isRegularFile() { return (mode & S_IFMT) == S_IFREG; }
    }

    /** statx(2) of a path; the layout of struct statx is the same on every architecture. */
    public static Stat stat(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(STATX_SIZE_OF_STRUCT, 8);
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r = (int) STATX.invokeExact(cap, AT_FDCWD, a.allocateFrom(path), 0,
                    STATX_TYPE | STATX_MODE | STATX_BLOCKS, buf);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, Errno.describe(e));
            }
            int mode = Short.toUnsignedInt(buf.get(ValueLayout.JAVA_SHORT, 28));
            long blocks = buf.get(ValueLayout.JAVA_LONG, 48);
            return new Stat(mode, blocks);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** statx(2) of an open file (AT_EMPTY_PATH): never a path walk, which could lead into a mount of our own. */
    public static Stat fstat(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(STATX_SIZE_OF_STRUCT, 8);
            MemorySegment cap = Libc.CAPTURE_SEG.get();
            int r = (int) STATX.invokeExact(cap, fd, a.allocateFrom(""), AT_EMPTY_PATH,
                    STATX_TYPE | STATX_MODE | STATX_BLOCKS, buf);
            if (r < 0) {
                int e = Libc.errno(cap);
                throw new SysException(e, Errno.describe(e));
            }
            return new Stat(Short.toUnsignedInt(buf.get(ValueLayout.JAVA_SHORT, 28)), buf.get(ValueLayout.JAVA_LONG, 48));
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static int getuid() {
        try {
            return (int) GETUID.invokeExact(Libc.CAPTURE_SEG.get());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static int getgid() {
        try {
            return (int) GETGID.invokeExact(Libc.CAPTURE_SEG.get());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
