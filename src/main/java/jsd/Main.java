package jsd;

import jsd.cli.CommandLine;
import jsd.cli.Startup;

/** Entry point: jsd [qemu-storage-daemon options]. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        int rc;
        try {
            rc = Startup.run(args);
        } catch (CommandLine.UsageError e) {
            System.err.println("jsd: " + e.getMessage());
            rc = 1;
        }
        System.out.flush();
        System.exit(rc);
    }
}
