package jsd.block;

import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Guesses an image's format from its first bytes (only for backing files named without a format). */
public final class ImageProbe {
    private static final int QCOW_MAGIC = 0x514649fb; // "QFI\xfb"

    private ImageProbe() {}

    public static String probe(String filename) throws IOException {
        try (FileChannel ch = FileChannel.open(FileNode.path(filename), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            ch.read(b, 0);
            return b.position() == 4 && b.getInt(0) == QCOW_MAGIC ? "qcow2" : "raw";
        } catch (NoSuchFileException e) {
            throw new BlockException(Errno.ENOENT, "Could not open '" + filename + "': No such file or directory");
        }
    }
}
