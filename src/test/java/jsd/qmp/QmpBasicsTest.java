package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The monitor's greeting, negotiation and envelope checks, against the real daemon. */
class QmpBasicsTest {
    static JsdProcess jsd;

    @BeforeAll
    static void start() throws Exception { jsd = JsdProcess.start(); }

    @AfterAll
    static void stop() { jsd.close(); }

    @Test
    void greetingAndNegotiation() throws Exception {
        try (QmpClient c = QmpClient.connectRaw(jsd.qmpSocket())) {
            JsonNode qmp = c.greeting().get("QMP");
            assertEquals(7, qmp.get("version").get("qemu").get("major").asInt());
            assertEquals("oob", qmp.get("capabilities").get(0).asText());
            JsonNode early = c.error("query-version", null);
            assertEquals("CommandNotFound", early.get("class").asText());
            assertEquals("Expecting capabilities negotiation with 'qmp_capabilities'", early.get("desc").asText());
            c.ok("qmp_capabilities", null);
            JsonNode again = c.error("qmp_capabilities", null);
            assertEquals("Capabilities negotiation is already complete, command ignored", again.get("desc").asText());
            assertEquals(0, c.ok("query-version", null).get("qemu").get("micro").asInt());
        }
    }

    @Test
    void unknownCommandEchoesId() throws Exception {
        try (QmpClient c = jsd.qmp()) {
            c.sendRaw("{\"execute\": \"no-such-command\", \"id\": [1, {\"a\": 2}]}\n");
            JsonNode r = c.reply();
            assertEquals(QmpClient.json("[1, {\"a\": 2}]"), r.get("id"));
            assertEquals("CommandNotFound", r.get("error").get("class").asText());
            assertEquals("The command no-such-command has not been found", r.get("error").get("desc").asText());
        }
    }

    @Test
    void argumentsAreChecked() throws Exception {
        try (QmpClient c = jsd.qmp()) {
            assertEquals("Parameter 'x' is unexpected", c.error("query-version", Map.of("x", 1)).get("desc").asText());
            assertTrue(c.ok("query-commands", null).isArray());
        }
    }
}
