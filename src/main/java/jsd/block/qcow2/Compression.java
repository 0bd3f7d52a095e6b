package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.sys.Errno;
import jsd.sys.Zstd;

import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Decompression of compressed clusters. qcow2's "zlib" clusters are raw
 * deflate streams (no zlib header), so the Inflater runs in nowrap mode. A
 * compressed cluster's stored length is rounded up to whole sectors, so the
 * input may carry unrelated bytes after the stream: both decoders stop once
 * a full cluster has been produced.
 */
final class Compression {
    private Compression() {}

    static void decompress(int type, byte[] src, int srcLen, byte[] dst) throws java.io.IOException {
        switch (type) {
            case Qcow2Header.COMPRESSION_DEFLATE -> inflate(src, srcLen, dst);
            case Qcow2Header.COMPRESSION_ZSTD -> zstd(src, srcLen, dst);
            default -> throw new BlockException(Errno.ENOTSUP, "unknown compression type " + type);
        }
    }

    private static void inflate(byte[] src, int srcLen, byte[] dst) throws BlockException {
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(src, 0, srcLen);
            int n = 0;
            while (n < dst.length) {
                int r = inf.inflate(dst, n, dst.length - n);
                if (r == 0 && (inf.finished() || inf.needsInput() || inf.needsDictionary())) break;
                n += r;
            }
            if (n != dst.length) throw new BlockException(Errno.EIO, "compressed cluster decodes to " + n + " bytes, not " + dst.length);
        } catch (DataFormatException e) {
            throw new BlockException(Errno.EIO, "corrupt compressed cluster: " + e.getMessage());
        } finally {
            inf.end();
        }
    }

    private static void zstd(byte[] src, int srcLen, byte[] dst) throws java.io.IOException {
        if (!Zstd.available()) {
            throw new BlockException(Errno.ENOTSUP, "this image uses zstd compression, but libzstd.so.1 could not be loaded");
        }
        int n = Zstd.decompressFrame(src, srcLen, dst);
        if (n != dst.length) throw new BlockException(Errno.EIO, "compressed cluster decodes to " + n + " bytes, not " + dst.length);
    }
}
