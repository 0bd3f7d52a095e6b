package jsd.daemon;

import jsd.sys.Libc;
import jsd.sys.SysException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * --daemonize without fork(): the parent starts the same command again as
 * a child, waits until the child says it is ready (or why it failed) on
 * its standard output, and exits with 0 or 1 accordingly, as QEMU's parent
 * does. The child then leaves the session and drops its standard streams.
 */
public final class Daemonizer {
    private static final String CHILD_ENV = "JSD_DAEMONIZED_CHILD";
    private static final String READY = "JSD-READY";

    private Daemonizer() {}

    public static boolean isChild() { return System.getenv(CHILD_ENV) != null; }

    public static int runParent() {
        ProcessHandle.Info info = ProcessHandle.current().info();
        List<String> command = new ArrayList<>();
        command.add(info.command().orElse("java"));
        command.addAll(List.of(info.arguments().orElse(new String[0])));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put(CHILD_ENV, "1");
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        try {
            Process child = pb.start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.equals(READY)) return 0;
                    System.out.println(line);
                }
            }
            child.waitFor();
            return 1; // the child ended before it was ready
        } catch (IOException e) {
            System.err.println("jsd: cannot start the daemon process: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    public static void reportReady() {
        System.out.println(READY);
        System.out.flush();
        try {
            Libc.detach();
        } catch (SysException e) {
            System.err.println("jsd: " + e.getMessage());
        }
    }
}
