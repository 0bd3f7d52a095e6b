package jsd.cli;

import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --daemonize, --pidfile and signals, on the real process. */
class DaemonizeTest {
    static void waitGone(long pid) throws InterruptedException {
        for (int i = 0; i < 300 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false); i++) Thread.sleep(50);
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "daemon " + pid + " still running");
    }

    @Test
    void daemonizeWritesPidfileServesQmpAndStopsOnSigterm() throws Exception {
        Path dir = Files.createTempDirectory("jsd-daemonize-");
        Path sock = dir.resolve("qmp.sock");
        Path pidfile = dir.resolve("jsd.pid");
        JsdProcess.Result parent = JsdProcess.run("--daemonize", "--pidfile", pidfile.toString(),
                "--chardev", "socket,id=m,path=" + sock + ",server=on,wait=off", "--monitor", "chardev=m",
                "--blockdev", "driver=null-co,node-name=n");
        assertEquals(0, parent.exitCode(), parent.output());
        assertEquals("", parent.output());
        // ready when the parent exits: the pid file and the socket are there already
        long pid = Long.parseLong(Files.readString(pidfile).trim());
        ProcessHandle daemon = ProcessHandle.of(pid).orElseThrow();
        assertTrue(daemon.isAlive());
        try (QmpClient c = QmpClient.connect(sock)) {
            assertEquals("n", c.ok("query-named-block-nodes", null).get(0).get("node-name").asText());
        }
        // a second daemon cannot take the same pid file
        JsdProcess.Result second = JsdProcess.run("--pidfile", pidfile.toString());
        assertEquals(1, second.exitCode());
        assertEquals("jsd: cannot create PID file: Cannot lock pid file: Resource temporarily unavailable\n", second.output());
        daemon.destroy(); // SIGTERM
        waitGone(pid);
        assertFalse(Files.exists(pidfile), "pid file left behind");
        assertFalse(Files.exists(sock), "monitor socket left behind");
        Files.deleteIfExists(dir);
    }

    @Test
    void daemonizeWithABadOptionFailsInTheParent() throws Exception {
        JsdProcess.Result r = JsdProcess.run("--daemonize", "--blockdev", "driver=null-co,node-name=n", "--blockdev", "driver=nope");
        assertEquals(1, r.exitCode());
        assertEquals("jsd: --blockdev driver=nope: Parameter 'driver' does not accept value 'nope'\n", r.output());
    }

    /**
     * The pid file is written (truncated, then the number) while the monitor
     * may already answer, as in QEMU: wait until the number is there.
     */
    static long readPid(Path pidfile) throws Exception {
        for (int i = 0; i < 200; i++) {
            String s = Files.exists(pidfile) ? Files.readString(pidfile).trim() : "";
            if (!s.isEmpty()) return Long.parseLong(s);
            Thread.sleep(25);
        }
        throw new AssertionError("pid file " + pidfile + " stayed empty");
    }

    @Test
    void sigintAndSigtermEndWithStatusZero() throws Exception {
        for (String signal : List.of("INT", "TERM", "HUP")) {
            try (JsdProcess p = JsdProcess.start("--pidfile", "pid")) {
                p.qmp().close();
                Path pidfile = p.dir().resolve("pid");
                assertEquals(p.pid(), readPid(pidfile));
                Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start();
                assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
                assertEquals(0, p.waitFor(30), "exit status after SIG" + signal);
                assertFalse(Files.exists(pidfile));
                assertFalse(Files.exists(p.qmpSocket()));
            }
        }
    }
}
