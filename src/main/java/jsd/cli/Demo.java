package jsd.cli;

import jsd.daemon.Daemon;

/** --demo: a ready-made disk served over NBD on localhost, with hints on how to reach it. */
final class Demo {
    private Demo() {}

    static void start(Daemon daemon) {
        throw new CommandLine.UsageError("--demo needs the NBD server, which this build lacks");
    }
}
