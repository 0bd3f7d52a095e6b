package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.QmpLines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Several monitors at once (unix, TCP, pretty), several clients per socket, stdio, quit. */
class QmpMonitorsTest {
    static JsdProcess jsd;
    static int tcpPort;

    @BeforeAll
    static void start() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            tcpPort = s.getLocalPort();
        }
        jsd = JsdProcess.start(
                "--chardev", "socket,id=tcp,host=127.0.0.1,port=" + tcpPort + ",server=on,wait=off",
                "--monitor", "chardev=tcp",
                "--chardev", "socket,id=pretty,path=pretty.sock,server=on,wait=off",
                "--monitor", "chardev=pretty,pretty=on");
        jsd.awaitSocket(jsd.dir().resolve("pretty.sock"));
    }

    @AfterAll
    static void stop() { jsd.close(); }

    @Test
    void unixTcpAndPrettyMonitorsSideBySide() throws Exception {
        try (QmpClient unix = jsd.qmp(); QmpLines tcp = QmpLines.connect("127.0.0.1", tcpPort);
             QmpLines pretty = QmpLines.connect(jsd.dir().resolve("pretty.sock"))) {
            tcp.send("{\"execute\": \"qmp_capabilities\"}\n");
            assertEquals("{\"return\": {}}", tcp.next(10_000));
            // a node made through one monitor is seen through the others
            unix.ok("blockdev-add", QmpClient.json("{\"driver\": \"null-co\", \"node-name\": \"shared\", \"size\": 4096}"));
            tcp.send("{\"execute\": \"query-named-block-nodes\", \"id\": 1}\n");
            assertTrue(tcp.next(10_000).contains("\"node-name\": \"shared\""));
            // pretty: QEMU's indentation, every line ended by CR LF (QmpLines strips the CR)
            pretty.send("{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"query-version\", \"id\": \"p\"}\n");
            assertEquals("{", pretty.next(10_000));
            assertEquals("    \"return\": {", pretty.next(10_000));
            assertEquals("    }", pretty.next(10_000));
            assertEquals("}", pretty.next(10_000));
            StringBuilder reply = new StringBuilder();
            for (String l; !(l = pretty.next(10_000)).equals("}"); ) reply.append(l).append('\n');
            assertTrue(reply.toString().contains("\n    \"id\": \"p\""), reply.toString());
            unix.ok("blockdev-del", QmpClient.json("{\"node-name\": \"shared\"}"));
        }
    }

    @Test
    void severalClientsOnOneSocket() throws Exception {
        // qsd serves one client per monitor socket at a time; jsd serves them side by side
        try (QmpClient a = jsd.qmp(); QmpClient b = jsd.qmp(); QmpClient c = QmpClient.connectRaw(jsd.qmpSocket())) {
            assertEquals("CommandNotFound", c.error("query-version", null).get("class").asText());
            a.ok("query-version", null);
            b.ok("query-version", null);
        }
    }

    @Test
    void secondMonitorOnTheSameChardevIsRefused() throws Exception {
        JsdProcess.Result r = JsdProcess.run("--chardev", "socket,id=c,path=x.sock,server=on,wait=off",
                "--monitor", "chardev=c", "--monitor", "chardev=c");
        assertEquals(1, r.exitCode());
        assertEquals("jsd: --monitor chardev=c: Device 'c' is in use\n", r.output());
    }

    @Test
    void stdioMonitorAndQuit() throws Exception {
        Process p = new ProcessBuilder(JsdProcess.HOME.resolve("jsd").toString(), "--chardev", "stdio,id=s", "--monitor", "chardev=s")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII))) {
            assertTrue(out.readLine().startsWith("{\"QMP\": {\"version\": {\"qemu\": {"));
            OutputStream in = p.getOutputStream();
            in.write("{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"quit\", \"id\": 9}\n{\"execute\": \"query-version\"}\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            assertEquals("{\"return\": {}}", out.readLine());
            assertEquals("{\"return\": {}, \"id\": 9}", out.readLine());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue());
            assertEquals(null, out.readLine()); // nothing after quit
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void quitOverASocketEndsTheDaemon() throws Exception {
        try (JsdProcess own = JsdProcess.start(); QmpClient c = own.qmp()) {
            JsonNode r = c.execute("quit", null);
            assertTrue(r.has("return"));
            assertEquals(0, own.waitFor(30));
        }
    }
}
