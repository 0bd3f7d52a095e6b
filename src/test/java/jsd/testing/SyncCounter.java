package jsd.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Counts the fdatasync and fsync calls a running daemon makes while some work runs, with strace. */
public final class SyncCounter {
    private SyncCounter() {}

    /** What runs while strace watches: a client's writes. */
    public interface Work {
        void run() throws Exception;
    }

    /** Runs work with strace attached to every thread of jsd; log names the trace file in jsd's directory. */
    public static long count(JsdProcess jsd, String log, Work work) throws Exception {
        Path trace = jsd.dir().resolve(log);
        Files.deleteIfExists(trace);
        Process strace = new ProcessBuilder("strace", "-f", "-qq", "-e", "trace=fdatasync,fsync",
                "-p", Long.toString(jsd.pid()), "-o", trace.toString()).redirectErrorStream(true).start();
        try {
            Thread.sleep(1000); // strace attaches to every thread before the writes start
            work.run();
            Thread.sleep(300);
        } finally {
            strace.destroy();
            strace.waitFor(10, TimeUnit.SECONDS);
        }
        return Files.readAllLines(trace).stream().filter(l -> l.contains("fdatasync(") || l.contains("fsync(")).count();
    }
}
