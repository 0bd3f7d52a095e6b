package jsd.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.Daemon;
import jsd.daemon.Daemonizer;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds the daemon from the command line, in order, and runs it until it is told to stop. */
public final class Startup {
    private Startup() {}

    public static int run(String[] args) {
        CommandLine.Parsed cmd = CommandLine.parse(args);
        if (cmd.help()) {
            System.out.print(CommandLine.HELP);
            return 0;
        }
        if (cmd.version()) {
            System.out.println("jsd version " + Daemon.VERSION + " (compatible with qemu-storage-daemon 7.2)");
            return 0;
        }
        if (cmd.daemonize() && !Daemonizer.isChild()) return Daemonizer.runParent();

        Daemon daemon = new Daemon();
        Extensions.install(daemon);
        try {
            for (CommandLine.Option o : cmd.options()) apply(daemon, o);
            if (cmd.demo()) Demo.start(daemon);
            if (cmd.pidfile() != null) writePidfile(cmd.pidfile());
        } catch (CommandLine.UsageError e) {
            daemon.stop();
            throw e; // Main prints it; a daemonized child's stderr is still the parent's

        }
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::stop, "jsd-shutdown"));
        if (Daemonizer.isChild()) Daemonizer.reportReady();
        try {
            daemon.awaitStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (cmd.pidfile() != null) {
            try {
                Files.deleteIfExists(Path.of(cmd.pidfile()));
            } catch (IOException ignored) {
                // nothing to clean up
            }
        }
        return 0;
    }

    /** Applies one option, turning any failure into "--option value: message". */
    static void apply(Daemon daemon, CommandLine.Option o) {
        try {
            ObjectNode v = o.value();
            daemon.locked(() -> {
                switch (o.name()) {
                    case "--blockdev" -> daemon.graph().add(v);
                    case "--chardev" -> daemon.monitors().addChardev(v);
                    case "--monitor" -> daemon.monitors().addMonitor(v);
                    case "--export" -> daemon.exports().add(v);
                    case "--object" -> daemon.commands().get("object-add").run(v);
                    case "--nbd-server" -> daemon.nbdServerOption().accept(v);
                    default -> throw new IllegalStateException(o.name());
                }
                return null;
            });
        } catch (QapiError e) {
            throw new CommandLine.UsageError(o.name() + " " + o.raw() + ": " + e.desc());
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new CommandLine.UsageError(o.name() + " " + o.raw() + ": " + e.getMessage());
        }
    }

    private static void writePidfile(String path) {
        try {
            Files.writeString(Path.of(path), ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new CommandLine.UsageError("cannot create PID file: " + e.getMessage());
        }
    }
}
