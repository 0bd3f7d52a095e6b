package jsd.export.fuse;

/** The parts of the FUSE kernel protocol (linux/fuse.h, 7.38) that a one-file export speaks. */
final class FuseConstants {
    private FuseConstants() {}

    static final int FUSE_KERNEL_VERSION = 7;
    static final int FUSE_KERNEL_MINOR_VERSION = 38;
    static final long FUSE_ROOT_ID = 1;
    /** The errno an INIT from an unknown major version gets. */
    static final int EPROTO = 71;

    // opcodes
    static final int FUSE_LOOKUP = 1;
    static final int FUSE_FORGET = 2;
    static final int FUSE_GETATTR = 3;
    static final int FUSE_SETATTR = 4;
    static final int FUSE_OPEN = 14;
    static final int FUSE_READ = 15;
    static final int FUSE_WRITE = 16;
    static final int FUSE_STATFS = 17;
    static final int FUSE_RELEASE = 18;
    static final int FUSE_FSYNC = 20;
    static final int FUSE_FLUSH = 25;
    static final int FUSE_INIT = 26;
    static final int FUSE_INTERRUPT = 36;
    static final int FUSE_DESTROY = 38;
    static final int FUSE_BATCH_FORGET = 42;
    static final int FUSE_FALLOCATE = 43;
    static final int FUSE_LSEEK = 46;

    // INIT flags
    static final int FUSE_ASYNC_READ = 1;
    static final int FUSE_ATOMIC_O_TRUNC = 1 << 3;
    static final int FUSE_BIG_WRITES = 1 << 5;
    static final int FUSE_AUTO_INVAL_DATA = 1 << 12;
    static final int FUSE_ASYNC_DIO = 1 << 15;
    static final int FUSE_MAX_PAGES = 1 << 22;

    // SETATTR valid bits
    static final int FATTR_MODE = 1;
    static final int FATTR_UID = 1 << 1;
    static final int FATTR_GID = 1 << 2;
    static final int FATTR_SIZE = 1 << 3;
    /** Which open file the change came through, and its lock owner: context, not changes. */
    static final int FATTR_FH = 1 << 6;
    static final int FATTR_LOCKOWNER = 1 << 9;

    // fallocate(2) modes
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;

    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;

    // struct sizes
    static final int IN_HEADER_SIZE = 40;
    static final int OUT_HEADER_SIZE = 16;
    static final int INIT_IN_MIN_SIZE = 16; // major, minor, max_readahead, flags
    static final int INIT_OUT_SIZE = 64;
    static final int COMPAT_22_INIT_OUT_SIZE = 24;
    static final int ATTR_OUT_SIZE = 104;
    static final int SETATTR_IN_SIZE = 88;
    static final int OPEN_OUT_SIZE = 16;
    static final int READ_IN_SIZE = 40;
    static final int WRITE_IN_SIZE = 40;
    static final int WRITE_OUT_SIZE = 8;
    static final int STATFS_OUT_SIZE = 80;
    static final int FALLOCATE_IN_SIZE = 32;
    static final int LSEEK_IN_SIZE = 24;
    static final int LSEEK_OUT_SIZE = 8;

    /** Largest write (and read) the export takes in one request: 256 pages. */
    static final int MAX_TRANSFER = 1 << 20;
    static final int MAX_PAGES = MAX_TRANSFER / 4096;
    /** A request buffer holds the largest write with its headers (the kernel insists on room for them). */
    static final int REQUEST_BUFFER_SIZE = MAX_TRANSFER + 8192;
}
