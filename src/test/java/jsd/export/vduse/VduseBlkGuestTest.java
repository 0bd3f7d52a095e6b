package jsd.export.vduse;

import jsd.testing.JsdProcess;
import jsd.testing.ScratchDir;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * jsd's vduse-blk export under a real kernel: the shared harness
 * (../shared/guest/vduse-guest, or $JSD_GUEST_HARNESS) boots a TCG guest
 * with VDUSE whose root is the host's, runs jsd in it, attaches the device
 * with `vdpa dev add` and drives /dev/vda through virtio_blk; images are
 * checked on the host afterwards. The first run on a machine builds the
 * guest kernel (3-11 minutes), hence the long time limits.
 *
 * On TCG's default CPU model the guest's JVM has died of SIGILL in its
 * first compiled methods, with and without class data sharing; the guest
 * gets QEMU's "max" CPU model, and the daemon runs without sharing
 * (-XX:AOTMode=off).
 */
@Timeout(value = 45, unit = TimeUnit.MINUTES)
class VduseBlkGuestTest {
    static final long SIZE = 64L << 20;
    static final Path HARNESS = Path.of(System.getenv().getOrDefault("JSD_GUEST_HARNESS",
            JsdProcess.HOME.getParent().resolve("shared/guest").toString()));
    static ScratchDir work;

    @BeforeAll
    static void setup() throws Exception {
        assertTrue(Files.isExecutable(HARNESS.resolve("vduse-guest")),
                "guest harness not found at " + HARNESS + " (set JSD_GUEST_HARNESS)");
        // installs QEMU, busybox, iproute2 (vdpa) and the kernel sources when missing; builds the kernel once
        Tools.Output s = Tools.run(null, 1800, List.of(HARNESS.resolve("setup").toString(), "--vduse"));
        assertEquals(0, s.exitCode(), s.stdout() + s.stderr());
        // the guest's root is read-only: the launcher's jar and AOT cache must be fresh before it runs
        JsdProcess.Result v = JsdProcess.run("--version");
        assertEquals(0, v.exitCode(), v.output());
        // under /tmp, which the guest hides: every run shares it explicitly (--share)
        work = new ScratchDir("jsd-vduse-guest-");
    }

    @AfterAll
    static void cleanup() throws IOException {
        if (work != null) work.close();
    }

    /** Runs vduse-guest with the options, then "--", then jsd with daemonArgs. */
    static Tools.Output guest(List<String> options, String... daemonArgs) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(HARNESS.resolve("vduse-guest").toString(),
                "--share", work.path().toString(), "--expect-size", Long.toString(SIZE), "--timeout", "300",
                "--env", "JSD_JAVA_OPTS=-XX:AOTMode=off",
                "--qemu-arg=-cpu", "--qemu-arg=max"));
        if (isHidden(JsdProcess.HOME)) cmd.addAll(List.of("--share", JsdProcess.HOME.toString()));
        cmd.addAll(options);
        cmd.add("--");
        cmd.add(JsdProcess.HOME.resolve("jsd").toString());
        cmd.addAll(List.of(daemonArgs));
        Tools.Output o = Tools.run(work.path(), 1500, cmd);
        System.out.println(o.stdout());
        return o;
    }

    /** Folders the guest replaces with its own tmpfs. */
    static boolean isHidden(Path p) {
        for (String t : List.of("/tmp", "/run", "/var/tmp", "/dev/shm")) if (p.startsWith(t)) return true;
        return false;
    }

    static void verifyPattern(Path img) throws Exception {
        Tools.Output v = Tools.run(work.path(), 120, List.of(HARNESS.resolve("verify-pattern").toString(), img.toString()));
        System.out.println(v.stdout());
        assertEquals(0, v.exitCode(), v.stdout() + v.stderr());
    }

    static void assertPassed(Tools.Output o, String... checks) {
        assertEquals(0, o.exitCode(), o.stdout() + o.stderr());
        assertTrue(o.stdout().contains(" passed, 0 failed"), o.stdout());
        for (String c : List.of("daemon-stop", "vduse-destroyed")) assertTrue(o.stdout().contains("PASS " + c), o.stdout());
        for (String c : checks) assertTrue(o.stdout().contains("PASS " + c), o.stdout());
    }

    @Test
    void readWriteTwoQueuesFourKiBSectors() throws Exception {
        Path img = work.image("rw.img", SIZE);
        Tools.Output o = guest(List.of("--expect-queues", "2", "--expect-lbs", "4096", "--expect-sysfs", "serial=jsd-serial-1"),
                "--blockdev", "file,node-name=f,filename=" + img,
                "--export", "vduse-blk,id=v,node-name=f,name=vduse0,writable=on,num-queues=2,logical-block-size=4096,serial=jsd-serial-1");
        assertPassed(o, "mq-parallel", "write-zeroes", "final-flush", "sysfs:serial");
        verifyPattern(img);
    }

    @Test
    void readOnly() throws Exception {
        Path img = work.image("ro.img", SIZE);
        Tools.Output o = guest(List.of("--read-only"),
                "--blockdev", "file,node-name=f,read-only=on,filename=" + img,
                "--export", "vduse-blk,id=v,node-name=f,name=vduse0");
        assertPassed(o, "read-only", "write-rejected", "read:");
    }

    /** A safe block-export-del is refused while the device is attached, destroys it after `vdpa dev del`; a new export with the same name works. */
    @Test
    void deleteAndRecreateThroughQmp() throws Exception {
        Path img = work.image("lc.img", SIZE);
        Path script = work.resolve("lifecycle.sh");
        Files.writeString(script, "QMP=" + JsdProcess.HOME.resolve("src/test/resources/vduse/qmp.py") + "\n"
                + Files.readString(JsdProcess.HOME.resolve("src/test/resources/vduse/lifecycle.sh")));
        Tools.Output o = guest(List.of("--script", script.toString()),
                "--chardev", "socket,id=m,path=/run/jsd-qmp.sock,server=on,wait=off", "--monitor", "chardev=m",
                "--blockdev", "file,node-name=f,filename=" + img,
                "--export", "vduse-blk,id=v,node-name=f,name=vduse0,writable=on");
        assertPassed(o, "query", "safe-delete-refused", "delete", "re-add", "verify-head:", "reattach", "verify-head-again", "verify-tail", "script");
    }
}
