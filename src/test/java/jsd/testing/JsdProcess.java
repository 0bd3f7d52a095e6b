package jsd.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real daemon process for a test: ./jsd (or qemu-storage-daemon, for
 * comparison tests) with a QMP monitor on a unix socket in a fresh
 * temporary directory. Closing it stops the daemon and removes the folder.
 */
public final class JsdProcess implements AutoCloseable {
    /** The project root (set by the build; the current directory otherwise). */
    public static final Path HOME = Path.of(System.getProperty("jsd.home", ".")).toAbsolutePath().normalize();

    private final Process process;
    private final Path dir;
    private final Path qmpSocket;
    private final Path log;

    private JsdProcess(List<String> program, Path dir, List<String> args, boolean monitor) throws IOException {
        this(program, dir, args, monitor, java.util.Map.of());
    }

    private JsdProcess(List<String> program, Path dir, List<String> args, boolean monitor,
                       java.util.Map<String, String> env) throws IOException {
        this.dir = dir;
        this.qmpSocket = dir.resolve("qmp.sock");
        this.log = dir.resolve("daemon.log");
        List<String> cmd = new ArrayList<>(program);
        if (monitor) {
            cmd.addAll(List.of("--chardev", "socket,id=qmp0,path=" + qmpSocket + ",server=on,wait=off",
                    "--monitor", "chardev=qmp0"));
        }
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        process = pb.start();
    }

    /** Starts jsd with a monitor and the given extra arguments; waits for the monitor socket. */
    public static JsdProcess start(String... args) throws IOException {
        return start(List.of(HOME.resolve("jsd").toString()), args);
    }

    /** Like {@link #start(String...)}, with extra environment variables (e.g. JSD_NBD_DEBUG=1 for leak checks). */
    public static JsdProcess startWithEnv(java.util.Map<String, String> env, String... args) throws IOException {
        Path dir = Files.createTempDirectory("jsd-test-");
        JsdProcess p = new JsdProcess(List.of(HOME.resolve("jsd").toString()), dir, Arrays.asList(args), true, env);
        p.awaitSocket(p.qmpSocket);
        return p;
    }

    /** Starts the reference, qemu-storage-daemon, the same way. */
    public static JsdProcess startReference(String... args) throws IOException {
        return start(List.of("qemu-storage-daemon"), args);
    }

    private static JsdProcess start(List<String> program, String... args) throws IOException {
        Path dir = Files.createTempDirectory("jsd-test-");
        JsdProcess p = new JsdProcess(program, dir, Arrays.asList(args), true);
        p.awaitSocket(p.qmpSocket);
        return p;
    }

    /** Runs jsd without a monitor until it exits; returns exit code and output (for command-line tests). */
    public static Result run(String... args) throws IOException, InterruptedException {
        return run(List.of(HOME.resolve("jsd").toString()), args);
    }

    public static Result runReference(String... args) throws IOException, InterruptedException {
        return run(List.of("qemu-storage-daemon"), args);
    }

    private static Result run(List<String> program, String... args) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("jsd-run-");
        JsdProcess p = new JsdProcess(program, dir, Arrays.asList(args), false);
        if (!p.process.waitFor(60, TimeUnit.SECONDS)) {
            p.close();
            throw new IOException("did not exit: " + program + " " + Arrays.toString(args));
        }
        Result r = new Result(p.process.exitValue(), Files.readString(p.log, StandardCharsets.UTF_8));
        p.close();
        return r;
    }

    public record Result(int exitCode, String output) {}

    /** Waits (up to 60 s) until a unix socket the daemon creates exists. */
    public void awaitSocket(Path socket) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(socket)) {
            if (!process.isAlive()) throw new IOException("daemon exited (" + process.exitValue() + "): " + output());
            if (System.nanoTime() > deadline) throw new IOException("socket " + socket + " never appeared: " + output());
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }
    }

    public Path dir() { return dir; }

    public Path qmpSocket() { return qmpSocket; }

    public Process process() { return process; }

    public long pid() { return process.pid(); }

    public QmpClient qmp() throws IOException { return QmpClient.connect(qmpSocket); }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits for the process to end on its own. */
    public int waitFor(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) throw new AssertionError("daemon still running");
        return process.exitValue();
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        deleteTree(dir.toFile());
    }

    private static void deleteTree(File f) {
        File[] children = f.listFiles();
        if (children != null) for (File c : children) deleteTree(c);
        f.delete();
    }
}
