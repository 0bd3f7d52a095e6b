package jsd.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * zstd decompression through the system's libzstd (the library QEMU itself
 * links; Debian's qemu-utils depends on it). Loaded lazily and optional: a
 * machine without it can still use every image that is not zstd-compressed.
 */
public final class Zstd {
    private Zstd() {}

    private static final MethodHandle FIND_FRAME_SIZE;
    private static final MethodHandle DECOMPRESS;
    private static final MethodHandle IS_ERROR;

    static {
        MethodHandle find = null, dec = null, isErr = null;
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup lib = SymbolLookup.libraryLookup("libzstd.so.1", Arena.global());
            find = linker.downcallHandle(lib.find("ZSTD_findFrameCompressedSize").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            dec = linker.downcallHandle(lib.find("ZSTD_decompress").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            isErr = linker.downcallHandle(lib.find("ZSTD_isError").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        } catch (RuntimeException | Error e) {
            find = dec = isErr = null;
        }
        FIND_FRAME_SIZE = find;
        DECOMPRESS = dec;
        IS_ERROR = isErr;
    }

    public static boolean available() { return DECOMPRESS != null; }

    /**
     * Decompresses the one zstd frame at the start of src[0, srcLen) (bytes
     * after the frame are ignored) into dst; returns the decoded length.
     */
    public static int decompressFrame(byte[] src, int srcLen, byte[] dst) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(Math.max(1, srcLen));
            MemorySegment.copy(src, 0, in, ValueLayout.JAVA_BYTE, 0, srcLen);
            MemorySegment out = a.allocate(dst.length);
            long frame = (long) FIND_FRAME_SIZE.invokeExact(in, (long) srcLen);
            if ((int) IS_ERROR.invokeExact(frame) != 0) throw new SysException(Errno.EIO, "corrupt zstd compressed cluster");
            long n = (long) DECOMPRESS.invokeExact(out, (long) dst.length, in, frame);
            if ((int) IS_ERROR.invokeExact(n) != 0) throw new SysException(Errno.EIO, "corrupt zstd compressed cluster");
            MemorySegment.copy(out, ValueLayout.JAVA_BYTE, 0, dst, 0, (int) n);
            return (int) n;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
