package jsd.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real client programs (qemu-img, qemu-io, nbdinfo, nbdsh ...) for tests. */
public final class Tools {
    private Tools() {}

    public record Output(int exitCode, String stdout, String stderr) {
        public Output expectOk() {
            if (exitCode != 0) throw new AssertionError("exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr);
            return this;
        }
    }

    public static Output run(Path cwd, String... cmd) throws IOException, InterruptedException {
        return run(cwd, 120, List.of(cmd));
    }

    public static Output run(Path cwd, long timeoutSeconds, List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        if (cwd != null) pb.directory(cwd.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        var errReader = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return p.getErrorStream().readAllBytes();
            } catch (IOException e) {
                return new byte[0];
            }
        });
        var out = p.getInputStream().readAllBytes();
        var err = errReader.join();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + Arrays.toString(cmd.toArray()));
        }
        return new Output(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }
}
