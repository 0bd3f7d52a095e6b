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
        // SIGTERM, SIGINT and SIGHUP end the daemon normally (exit status 0), as they end qemu-storage-daemon
        for (String sig : new String[] {"TERM", "INT", "HUP"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> Thread.ofPlatform().start(daemon::stop));
        }
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::stop, "jsd-shutdown"));
        Extensions.install(daemon);
        // The daemon's lock is held until every option has taken effect: a monitor
        // opened by an early --monitor may already have a client, and, as with
        // qemu-storage-daemon, its commands run only once start-up is complete.
        CommandLine.UsageError failure = null;
        daemon.lock().lock();
        try {
            for (CommandLine.Option o : cmd.options()) apply(daemon, o);
            if (cmd.demo()) Demo.start(daemon);
            if (cmd.pidfile() != null) writePidfile(cmd.pidfile());
        } catch (CommandLine.UsageError e) {
            failure = e;
        } catch (RuntimeException e) {
            // A bug, not bad input: say so with the trace, and still exit instead of leaving
            // a half-started daemon (its monitors and servers would keep the JVM alive).
            e.printStackTrace();
            failure = new CommandLine.UsageError("internal error during start-up: " + e);
        } finally {
            daemon.lock().unlock();
        }
        if (failure != null) {
            daemon.stop();
            throw failure; // Main prints it; a daemonized child's stderr is still the parent's
        }
        if (cmd.pidfile() != null) daemon.onStop(() -> deletePidfile(cmd.pidfile()));

        if (Daemonizer.isChild()) Daemonizer.reportReady();
        try {
            daemon.awaitStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
            throw new CommandLine.UsageError(o.name() + " " + o.raw() + ": " + e.desc() + (e.hint() == null ? "" : "\n" + e.hint()));
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new CommandLine.UsageError(o.name() + " " + o.raw() + ": " + e.getMessage());
        }
    }

    private static void deletePidfile(String path) {
        try {
            Files.deleteIfExists(Path.of(path));
        } catch (IOException ignored) {
            // nothing to clean up
        }
    }

    /** Kept open for the daemon's life: its lock keeps a second daemon off the same pid file, as in QEMU. */
    private static java.nio.channels.FileChannel pidfileChannel;

    private static void writePidfile(String path) {
        try {
            java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(Path.of(path),
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
            if (ch.tryLock() == null) {
                ch.close();
                throw new CommandLine.UsageError("cannot create PID file: Cannot lock pid file: Resource temporarily unavailable");
            }
            ch.truncate(0);
            ch.write(java.nio.ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
            pidfileChannel = ch;
        } catch (java.nio.file.NoSuchFileException e) {
            throw new CommandLine.UsageError("cannot create PID file: Could not create '" + path + "': No such file or directory");
        } catch (java.nio.file.AccessDeniedException e) {
            throw new CommandLine.UsageError("cannot create PID file: Could not create '" + path + "': Permission denied");
        } catch (IOException e) {
            throw new CommandLine.UsageError("cannot create PID file: Could not create '" + path + "': " + e.getMessage());
        }
    }
}
