package jsd.testing;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

/** A temporary folder of sparse image files for a test class, removed with what it holds. */
public final class ScratchDir implements AutoCloseable {
    private final Path dir;

    public ScratchDir(String prefix) throws IOException {
        this.dir = Files.createTempDirectory(prefix);
    }

    public Path path() { return dir; }

    public Path resolve(String name) { return dir.resolve(name); }

    /** A sparse file of size bytes (made or resized). */
    public Path image(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    @Override
    public void close() throws IOException {
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(dir);
    }
}
