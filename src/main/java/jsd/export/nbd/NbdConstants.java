package jsd.export.nbd;

/** Numbers from the NBD protocol, under the specification's own names. */
final class NbdConstants {
    private NbdConstants() {}

    // ---- handshake ----
    static final long NBDMAGIC = 0x4e42444d41474943L;          // "NBDMAGIC"
    static final long IHAVEOPT = 0x49484156454F5054L;          // "IHAVEOPT"
    static final long NBD_REP_MAGIC = 0x3e889045565a9L;

    static final int NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
    static final int NBD_FLAG_NO_ZEROES = 1 << 1;
    static final int NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
    static final int NBD_FLAG_C_NO_ZEROES = 1 << 1;

    static final int NBD_OPT_EXPORT_NAME = 1;
    static final int NBD_OPT_ABORT = 2;
    static final int NBD_OPT_LIST = 3;
    static final int NBD_OPT_STARTTLS = 5;
    static final int NBD_OPT_INFO = 6;
    static final int NBD_OPT_GO = 7;
    static final int NBD_OPT_STRUCTURED_REPLY = 8;
    static final int NBD_OPT_LIST_META_CONTEXT = 9;
    static final int NBD_OPT_SET_META_CONTEXT = 10;
    static final int NBD_OPT_EXTENDED_HEADERS = 11;

    static final int NBD_REP_ACK = 1;
    static final int NBD_REP_SERVER = 2;
    static final int NBD_REP_INFO = 3;
    static final int NBD_REP_META_CONTEXT = 4;
    static final int NBD_REP_FLAG_ERROR = 1 << 31;
    static final int NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR | 1;
    static final int NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR | 2;
    static final int NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR | 3;
    static final int NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR | 4;
    static final int NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR | 5;
    static final int NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR | 6;
    static final int NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR | 7;
    static final int NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR | 8;
    static final int NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR | 9;
    static final int NBD_REP_ERR_EXT_HEADER_REQD = NBD_REP_FLAG_ERROR | 10;

    static final int NBD_INFO_EXPORT = 0;
    static final int NBD_INFO_NAME = 1;
    static final int NBD_INFO_DESCRIPTION = 2;
    static final int NBD_INFO_BLOCK_SIZE = 3;

    // ---- transmission flags ----
    static final int NBD_FLAG_HAS_FLAGS = 1 << 0;
    static final int NBD_FLAG_READ_ONLY = 1 << 1;
    static final int NBD_FLAG_SEND_FLUSH = 1 << 2;
    static final int NBD_FLAG_SEND_FUA = 1 << 3;
    static final int NBD_FLAG_ROTATIONAL = 1 << 4;
    static final int NBD_FLAG_SEND_TRIM = 1 << 5;
    static final int NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
    static final int NBD_FLAG_SEND_DF = 1 << 7;
    static final int NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
    static final int NBD_FLAG_SEND_CACHE = 1 << 10;
    static final int NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

    // ---- requests ----
    static final int NBD_REQUEST_MAGIC = 0x25609513;
    static final int NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
    static final int NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
    static final int NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    static final int NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;

    static final int NBD_CMD_READ = 0;
    static final int NBD_CMD_WRITE = 1;
    static final int NBD_CMD_DISC = 2;
    static final int NBD_CMD_FLUSH = 3;
    static final int NBD_CMD_TRIM = 4;
    static final int NBD_CMD_CACHE = 5;
    static final int NBD_CMD_WRITE_ZEROES = 6;
    static final int NBD_CMD_BLOCK_STATUS = 7;

    static final int NBD_CMD_FLAG_FUA = 1 << 0;
    static final int NBD_CMD_FLAG_NO_HOLE = 1 << 1;
    static final int NBD_CMD_FLAG_DF = 1 << 2;
    static final int NBD_CMD_FLAG_REQ_ONE = 1 << 3;
    static final int NBD_CMD_FLAG_FAST_ZERO = 1 << 4;
    static final int NBD_CMD_FLAG_PAYLOAD_LEN = 1 << 5;

    static final int NBD_REPLY_FLAG_DONE = 1 << 0;
    static final int NBD_REPLY_TYPE_NONE = 0;
    static final int NBD_REPLY_TYPE_OFFSET_DATA = 1;
    static final int NBD_REPLY_TYPE_OFFSET_HOLE = 2;
    static final int NBD_REPLY_TYPE_BLOCK_STATUS = 5;
    static final int NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6;
    static final int NBD_REPLY_TYPE_ERROR = (1 << 15) | 1;
    static final int NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) | 2;

    static final int NBD_STATE_HOLE = 1;
    /** qemu:dirty-bitmap:* contexts: the range changed since the bitmap was last cleared. */
    static final int NBD_STATE_DIRTY = 1;
    static final int NBD_STATE_ZERO = 2;

    // ---- error values ----
    static final int NBD_EPERM = 1;
    static final int NBD_EIO = 5;
    static final int NBD_ENOMEM = 12;
    static final int NBD_EINVAL = 22;
    static final int NBD_ENOSPC = 28;
    static final int NBD_EOVERFLOW = 75;
    static final int NBD_ENOTSUP = 95;
    static final int NBD_ESHUTDOWN = 108;

    // ---- limits (as QEMU's server) ----
    /** Longest export name, description or context name a string may have. */
    static final int NBD_MAX_STRING_SIZE = 4096;
    /** Largest READ or WRITE payload, advertised as the maximum block size. */
    static final int NBD_MAX_BUFFER_SIZE = 32 << 20;
    static final int PREFERRED_BLOCK_SIZE = 4096;

    /** Name of an option for messages, as QEMU prints it. */
    static String optName(int opt) {
        return switch (opt) {
            case NBD_OPT_EXPORT_NAME -> "export name";
            case NBD_OPT_ABORT -> "abort";
            case NBD_OPT_LIST -> "list";
            case NBD_OPT_STARTTLS -> "starttls";
            case NBD_OPT_INFO -> "info";
            case NBD_OPT_GO -> "go";
            case NBD_OPT_STRUCTURED_REPLY -> "structured reply";
            case NBD_OPT_LIST_META_CONTEXT -> "list meta context";
            case NBD_OPT_SET_META_CONTEXT -> "set meta context";
            case NBD_OPT_EXTENDED_HEADERS -> "extended headers";
            default -> "<unknown>";
        };
    }

    /** A host errno to the NBD error value (the spec's list; anything else is EINVAL, as QEMU maps it). */
    static int nbdErrno(int errno) {
        return switch (errno) {
            case 0 -> 0;
            case 1, 30 -> NBD_EPERM;          // EPERM, EROFS
            case 5 -> NBD_EIO;
            case 12 -> NBD_ENOMEM;
            case 27, 28, 122 -> NBD_ENOSPC;   // EFBIG, ENOSPC, EDQUOT
            case 75 -> NBD_EOVERFLOW;
            case 95 -> NBD_ENOTSUP;
            case 108 -> NBD_ESHUTDOWN;
            case 22 -> NBD_EINVAL;
            default -> NBD_EINVAL;
        };
    }
}
