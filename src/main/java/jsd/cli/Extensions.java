package jsd.cli;

import jsd.daemon.Daemon;

/**
 * The one place where the parts that plug into the daemon are wired in:
 * export types, their commands, object types. Each part exposes an
 * install(Daemon) method and is listed here.
 */
final class Extensions {
    private Extensions() {}

    static void install(Daemon daemon) {
        jsd.crypto.Crypto.install(daemon);
        jsd.block.qcow2.Qcow2Driver.install();
        jsd.block.BitmapCommands.install(daemon);
        jsd.export.nbd.NbdCommands.install(daemon);
        jsd.export.vhostuser.VhostUserBlkCommands.install(daemon);
        jsd.export.fuse.FuseExports.install(daemon);
        jsd.export.vduse.VduseBlkCommands.install(daemon);
    }
}
