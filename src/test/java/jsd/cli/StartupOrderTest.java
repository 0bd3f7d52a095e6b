package jsd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The monitor socket exists as soon as its --chardev is read, but a client's
 * commands run only once every option has taken effect (as in
 * qemu-storage-daemon, whose main loop starts after the command line).
 */
class StartupOrderTest {
    @Test
    void firstCommandSeesEveryOption() throws Exception {
        List<String> args = new ArrayList<>();
        int nodes = 3000;
        for (int i = 0; i < nodes; i++) {
            args.add("--blockdev");
            args.add("null-co,node-name=n" + i + ",size=" + (i + 1) * 512);
        }
        for (int round = 0; round < 3; round++) {
            try (JsdProcess jsd = JsdProcess.start(args.toArray(String[]::new)); QmpClient qmp = jsd.qmp()) {
                JsonNode all = qmp.ok("query-named-block-nodes", null);
                assertEquals(nodes, all.size(), "round " + round);
            }
        }
    }
}
