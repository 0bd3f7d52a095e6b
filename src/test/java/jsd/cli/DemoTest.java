package jsd.cli;

import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ./jsd --demo: serves its built-in disk, prints how to reach it, and cleans up on Ctrl-C (SIGINT). */
class DemoTest {
    @Test
    void demoServesAndStopsCleanly() throws Exception {
        Process p = new ProcessBuilder(JsdProcess.HOME.resolve("jsd").toString(), "--demo")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String uri = null;
            Path qmp = null;
            for (String l = r.readLine(); l != null && qmp == null; l = r.readLine()) {
                if (l.trim().startsWith("nbdinfo ")) uri = l.trim().substring(8);
                if (l.trim().startsWith("QMP monitor: ")) qmp = Path.of(l.trim().substring(13));
            }
            assertNotNull(uri, "no nbdinfo hint");
            assertNotNull(qmp, "no QMP hint");
            assertTrue(uri.matches("nbd://127\\.0\\.0\\.1:\\d+/demo"), uri);
            String info = Tools.run(null, "nbdinfo", "--json", uri).expectOk().stdout();
            assertTrue(info.contains("\"export-size\": 67108864") && info.contains("\"is_read_only\": false"), info);
            String read = Tools.run(null, "qemu-io", "-r", "-f", "raw", "-c", "read -v 0 16", uri).expectOk().stdout();
            assertTrue(read.contains("Hello.from.jsd"), read);
            try (QmpClient c = QmpClient.connect(qmp)) {
                assertEquals("demo", c.ok("query-block-exports", null).get(0).get("id").asText());
            }
            Tools.run(null, "kill", "-INT", String.valueOf(p.pid())).expectOk();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "--demo did not stop on SIGINT");
            assertFalse(Files.exists(qmp.getParent()), "demo files left behind in " + qmp.getParent());
        } finally {
            p.destroyForcibly();
        }
    }
}
