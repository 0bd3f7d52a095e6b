package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.block.BlockNode;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The qcow2 header and its extensions, parsed and checked. Only the fields
 * jsd ever changes have offsets here (size, L1 and refcount table location,
 * feature bits); everything else in the first cluster is left untouched, so
 * extensions jsd does not understand (and the backing file name) survive.
 */
final class Qcow2Header {
    static final int MAGIC = 0x514649fb; // "QFI\xfb"

    static final int OFF_SIZE = 24;
    static final int OFF_L1_SIZE = 36;          // l1_size (4) then l1_table_offset (8): one 12-byte write
    static final int OFF_REFCOUNT_TABLE = 48;   // offset (8) then clusters (4): one 12-byte write
    static final int OFF_INCOMPATIBLE = 72;
    static final int OFF_AUTOCLEAR = 88;

    static final long INCOMPAT_DIRTY = 1;
    static final long INCOMPAT_CORRUPT = 2;
    static final long INCOMPAT_DATA_FILE = 4;
    static final long INCOMPAT_COMPRESSION = 8;
    static final long INCOMPAT_EXTENDED_L2 = 16;
    static final long INCOMPAT_KNOWN = 31;
    static final long COMPAT_LAZY_REFCOUNTS = 1;
    static final long AUTOCLEAR_BITMAPS = 1;

    private static final int EXT_END = 0;
    private static final int EXT_BACKING_FORMAT = 0xe2792aca;
    private static final int EXT_FEATURE_TABLE = 0x6803f857;
    private static final int EXT_BITMAPS = 0x23852875;
    private static final int EXT_CRYPTO = 0x0537be77;
    private static final int EXT_DATA_FILE = 0x44415441;

    static final int COMPRESSION_DEFLATE = 0;
    static final int COMPRESSION_ZSTD = 1;

    int version;
    long backingFileOffset;
    int backingFileSize;
    int clusterBits;
    long size;
    int cryptMethod;
    int l1Size;
    long l1TableOffset;
    long refcountTableOffset;
    int refcountTableClusters;
    int nbSnapshots;
    long snapshotsOffset;
    long incompatible;
    long compatible;
    long autoclear;
    int refcountOrder = 4;
    int headerLength = 72;
    int compressionType = COMPRESSION_DEFLATE;

    String backingFile;       // null: none
    String backingFormat;     // null: not recorded (probe)
    String dataFile;          // external data file name extension, if any
    boolean hasBitmaps;
    int bitmapsCount;           // the bitmaps extension: number, directory size and offset
    long bitmapDirectorySize;
    long bitmapDirectoryOffset;
    /** Feature names from the feature name table, keyed "type:bit". */
    final Map<String, String> featureNames = new HashMap<>();

    int clusterSize() { return 1 << clusterBits; }

    boolean extendedL2() { return (incompatible & INCOMPAT_EXTENDED_L2) != 0; }

    static Qcow2Header read(BlockNode file) throws IOException {
        long fileSize = file.size();
        if (fileSize < 72) throw invalid("Image is not in qcow2 format");
        ByteBuffer fixed = ByteBuffer.allocate(104);
        file.read(0, fixed.limit((int) Math.min(104, fileSize)));
        fixed.clear();
        if (fixed.getInt(0) != MAGIC) throw invalid("Image is not in qcow2 format");
        Qcow2Header h = new Qcow2Header();
        h.version = fixed.getInt(4);
        if (h.version != 2 && h.version != 3) throw unsupported("Unsupported qcow2 version " + h.version);
        h.clusterBits = fixed.getInt(20);
        if (h.clusterBits < 9 || h.clusterBits > 21) {
            throw invalid("Unsupported cluster size: 2^" + h.clusterBits);
        }
        ByteBuffer b = ByteBuffer.allocate(h.clusterSize());
        file.read(0, b.limit((int) Math.min(h.clusterSize(), fileSize)));
        b.clear();
        h.backingFileOffset = b.getLong(8);
        h.backingFileSize = b.getInt(16);
        h.size = b.getLong(24);
        h.cryptMethod = b.getInt(32);
        h.l1Size = b.getInt(36);
        h.l1TableOffset = b.getLong(40);
        h.refcountTableOffset = b.getLong(48);
        h.refcountTableClusters = b.getInt(56);
        h.nbSnapshots = b.getInt(60);
        h.snapshotsOffset = b.getLong(64);
        if (h.version >= 3) {
            h.incompatible = b.getLong(72);
            h.compatible = b.getLong(80);
            h.autoclear = b.getLong(88);
            h.refcountOrder = b.getInt(96);
            h.headerLength = b.getInt(100);
            if (h.headerLength < 104 || h.headerLength % 8 != 0 || h.headerLength > h.clusterSize()) {
                throw invalid("qcow2 header length " + h.headerLength + " is invalid");
            }
            if (h.headerLength > 104) h.compressionType = b.get(104) & 0xff;
        }
        h.readExtensions(b);
        h.validate(fileSize);
        if (h.backingFileOffset != 0) {
            if (h.backingFileSize <= 0 || h.backingFileSize > 1023
                    || h.backingFileOffset + h.backingFileSize > h.clusterSize()) {
                throw invalid("Backing file name too long or outside the header cluster");
            }
            h.backingFile = string(b, (int) h.backingFileOffset, h.backingFileSize);
        }
        return h;
    }

    private void readExtensions(ByteBuffer b) throws BlockException {
        int pos = version >= 3 ? headerLength : 72;
        int end = backingFileOffset != 0 && backingFileOffset < b.capacity() ? (int) backingFileOffset : b.capacity();
        while (pos + 8 <= end) {
            int type = b.getInt(pos);
            int len = b.getInt(pos + 4);
            if (type == EXT_END) break;
            if (len < 0 || pos + 8 + (long) len > end) throw invalid("Invalid qcow2 header extension (type 0x" + Integer.toHexString(type) + ")");
            int data = pos + 8;
            switch (type) {
                case EXT_BACKING_FORMAT -> backingFormat = string(b, data, len);
                case EXT_DATA_FILE -> dataFile = string(b, data, len);
                case EXT_BITMAPS -> {
                    if (len < 24) throw invalid("Invalid qcow2 bitmaps extension");
                    hasBitmaps = true;
                    bitmapsCount = b.getInt(data);
                    bitmapDirectorySize = b.getLong(data + 8);
                    bitmapDirectoryOffset = b.getLong(data + 16);
                }
                case EXT_CRYPTO -> { } // only meaningful with crypt_method, which is refused
                case EXT_FEATURE_TABLE -> {
                    for (int e = data; e + 48 <= data + len; e += 48) {
                        int ftype = b.get(e) & 0xff;
                        int bit = b.get(e + 1) & 0xff;
                        String name = string(b, e + 2, 46);
                        int nul = name.indexOf('\0');
                        featureNames.put(ftype + ":" + bit, nul >= 0 ? name.substring(0, nul) : name);
                    }
                }
                default -> { } // unknown extensions are ignored and preserved in place
            }
            pos = data + ((len + 7) & ~7);
        }
    }

    /** A name stored in the image; like QEMU, which reads it as a C string, it ends at a NUL byte. */
    private static String string(ByteBuffer b, int at, int len) {
        byte[] s = new byte[len];
        b.get(at, s);
        int end = 0;
        while (end < len && s[end] != 0) end++;
        return new String(s, 0, end, StandardCharsets.UTF_8);
    }

    private void validate(long fileSize) throws BlockException {
        if (cryptMethod != 0) {
            String m = cryptMethod == 1 ? "aes" : cryptMethod == 2 ? "luks" : "method " + cryptMethod;
            throw unsupported("qcow2 encryption (" + m + ") is not supported by jsd");
        }
        if ((incompatible & INCOMPAT_DATA_FILE) != 0) {
            throw unsupported("qcow2 external data files are not supported by jsd"
                    + (dataFile != null ? " (data file '" + dataFile + "')" : ""));
        }
        long unknown = incompatible & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            List<String> names = new ArrayList<>();
            for (int bit = 0; bit < 64; bit++) {
                if ((unknown & (1L << bit)) != 0) {
                    names.add(featureNames.getOrDefault("0:" + bit, "Unknown incompatible feature: " + Long.toHexString(1L << bit)));
                }
            }
            throw unsupported("Unsupported qcow2 feature(s): " + String.join(", ", names));
        }
        if ((incompatible & INCOMPAT_COMPRESSION) != 0) {
            if (compressionType == COMPRESSION_DEFLATE) throw invalid("Invalid compression type: the compression type bit is set but the type is zlib");
        } else if (compressionType != COMPRESSION_DEFLATE) {
            throw invalid("Invalid compression type " + compressionType + " without the compression type bit");
        }
        if (compressionType != COMPRESSION_DEFLATE && compressionType != COMPRESSION_ZSTD) {
            throw unsupported("Unknown qcow2 compression type " + compressionType);
        }
        if (extendedL2() && clusterBits < 14) throw invalid("Extended L2 entries need a cluster size of at least 16 KiB");
        if (refcountOrder > 6) throw invalid("Reference count entry width too large; may not exceed 64 bits");
        int cs = clusterSize();
        if (size < 0) throw invalid("Image size is negative");
        if (l1Size < 0 || (long) l1Size * 8 > 32L * 1024 * 1024) throw invalid("Active L1 table too large");
        if (l1TableOffset < 0 || l1TableOffset % cs != 0 || l1TableOffset > Long.MAX_VALUE - 32L * 1024 * 1024) {
            throw invalid("Active L1 table offset invalid");
        }
        long l2Entries = cs / (extendedL2() ? 16 : 8);
        long neededL1 = ceil(ceil(size, cs), l2Entries);
        if (l1Size < neededL1) throw invalid("L1 table is too small");
        if (refcountTableOffset <= 0 || refcountTableOffset % cs != 0 || refcountTableOffset > Long.MAX_VALUE - 8L * 1024 * 1024) {
            throw invalid("Refcount table offset invalid");
        }
        if (refcountTableClusters <= 0 || (long) refcountTableClusters * cs > 8L * 1024 * 1024) {
            throw invalid("Reference count table too large");
        }
        if (nbSnapshots < 0 || snapshotsOffset < 0 || snapshotsOffset % cs != 0) throw invalid("Snapshot table offset invalid");
        if ((autoclear & AUTOCLEAR_BITMAPS) != 0 && !hasBitmaps) {
            throw invalid("The bitmaps autoclear bit is set without a bitmaps extension");
        }
    }

    static long ceil(long a, long b) { return (a + b - 1) / b; }

    static BlockException invalid(String msg) { return new BlockException(Errno.EINVAL, msg); }

    static BlockException unsupported(String msg) { return new BlockException(Errno.ENOTSUP, msg); }

    String compatString() { return version == 2 ? "0.10" : "1.1"; }

    String compressionName() { return compressionType == COMPRESSION_ZSTD ? "zstd" : "zlib"; }
}
