package jsd.export.fuse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.daemon.Daemon;
import jsd.export.BlockExport;
import jsd.qapi.QapiError;
import jsd.sys.DeviceFile;
import jsd.sys.Errno;
import jsd.sys.WakeupFd;
import jsd.sys.Mounts;
import jsd.sys.SysException;

import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The "fuse" export type of block-export-add and --export: checks the
 * mount point as qemu-storage-daemon 7.2 does (same messages), opens
 * /dev/fuse, mounts it over the file and starts the session.
 */
public final class FuseExports {
    private final Set<String> mountpoints = ConcurrentHashMap.newKeySet();

    private FuseExports() {}

    /** Wires the FUSE export type into the daemon (called from jsd.cli.Extensions). */
    public static void install(Daemon daemon) {
        FuseExports f = new FuseExports();
        daemon.exports().registerDriver("fuse", f::create);
    }

    private BlockExport create(ObjectNode options, BlockNode node) {
        String mountpoint = options.get("mountpoint").asText();
        boolean writable = options.has("writable") && options.get("writable").asBoolean();
        boolean growable = options.has("growable") && options.get("growable").asBoolean();
        boolean writethrough = options.has("writethrough") && options.get("writethrough").asBoolean();
        String allowOther = options.has("allow-other") ? options.get("allow-other").asText() : "auto";
        String key = Path.of(mountpoint).toAbsolutePath().normalize().toString();
        if (mountpoints.contains(key)) throw QapiError.generic("There already is a FUSE export on '%s'", mountpoint);
        Mounts.Stat st = statMountpoint(mountpoint);
        if (!st.isRegularFile()) throw QapiError.generic("'%s' is not a regular file", mountpoint);

        DeviceFile device = null;
        WakeupFd wake = null;
        boolean withAllowOther;
        FileAttributes attributes = new FileAttributes(node, writable);
        try {
            device = DeviceFile.open("/dev/fuse");
            wake = WakeupFd.create();
            withAllowOther = switch (allowOther) {
                case "on" -> mount(device, mountpoint, st.mode(), true, true);
                case "off" -> mount(device, mountpoint, st.mode(), false, true);
                // try with allow_other first (it needs root or user_allow_other in /etc/fuse.conf)
                default -> mount(device, mountpoint, st.mode(), true, false) || mount(device, mountpoint, st.mode(), false, true);
            };
        } catch (SysException e) {
            System.err.println("jsd: FUSE export: " + e.getMessage());
            if (device != null) device.close();
            if (wake != null) wake.close();
            attributes.close();
            throw QapiError.generic("Failed to mount FUSE session to export");
        }
        String id = options.get("id").asText();
        FileOperations ops = new FileOperations(node, attributes, writable, growable, writethrough, withAllowOther);
        FuseSession session = new FuseSession(id, FuseChannel.device(device, wake), ops);
        mountpoints.add(key);
        FuseExport export = new FuseExport(options, node, mountpoint, session, () -> mountpoints.remove(key));
        session.onClose(attributes::close);
        session.start();
        return export;
    }

    /** stat(2) of the mount point; a dead FUSE mount left there by a killed daemon is detached first. */
    private static Mounts.Stat statMountpoint(String mountpoint) {
        try {
            return Mounts.stat(mountpoint);
        } catch (SysException e) {
            if (e.errno() == Errno.ENOTCONN && StaleMounts.isFuseMountPoint(mountpoint)) {
                try {
                    Mounts.umount2(mountpoint, Mounts.MNT_DETACH);
                    System.err.println("jsd: detached a dead FUSE mount from " + mountpoint);
                    return Mounts.stat(mountpoint);
                } catch (SysException again) {
                    throw QapiError.generic("Failed to stat '%s': %s", mountpoint, Errno.describe(again.errno()));
                }
            }
            throw QapiError.generic("Failed to stat '%s': %s", mountpoint, Errno.describe(e.errno()));
        }
    }

    /**
     * mount(2) of the connection over the file, with the options libfuse
     * would pass. Returns allowOther when mounted; false when a try that
     * may fail (report == false) failed.
     */
    private static boolean mount(DeviceFile device, String mountpoint, int rootMode, boolean allowOther, boolean report)
            throws SysException {
        String data = "fd=" + device.fd()
                + ",rootmode=" + Integer.toOctalString(rootMode & Mounts.S_IFMT)
                + ",user_id=" + Integer.toUnsignedString(Mounts.getuid())
                + ",group_id=" + Integer.toUnsignedString(Mounts.getgid())
                + ",default_permissions"
                + (allowOther ? ",allow_other" : "")
                + ",max_read=" + FuseConstants.MAX_TRANSFER;
        try {
            Mounts.mount("/dev/fuse", mountpoint, "fuse", Mounts.MS_NOSUID | Mounts.MS_NODEV, data);
            return allowOther;
        } catch (SysException e) {
            if (report) throw e;
            return false;
        }
    }
}
