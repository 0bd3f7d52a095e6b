package jsd.qmp;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** QEMU's JSON text, in-process (the wire is compared with qsd in QmpComparisonTest). */
class QmpTextTest {
    @Test
    void doublesAsPercent17g() {
        assertEquals("1500", QmpText.formatDouble(1.5e3));
        assertEquals("0.10000000000000001", QmpText.formatDouble(0.1));
        assertEquals("1.2345678901234568e+29", QmpText.formatDouble(123456789012345678901234567890.0));
        assertEquals("1.0000000000000001e-05", QmpText.formatDouble(1e-5));
        assertEquals("0.0001", QmpText.formatDouble(1e-4));
        assertEquals("-2.5", QmpText.formatDouble(-2.5));
        assertEquals("-0", QmpText.formatDouble(-0.0));
        assertEquals("inf", QmpText.formatDouble(Double.POSITIVE_INFINITY));
        assertEquals("10000000000000000", QmpText.formatDouble(1e16));
        assertEquals("1e+17", QmpText.formatDouble(1e17));
    }

    @Test
    void asciiOutput() {
        assertEquals("\"caf\\u00E9 \\uD83D\\uDE00 \\u007F \\u0000\\n\"",
                QmpText.write(JsonNodeFactory.instance.textNode("caf\u00e9 \ud83d\ude00 \u007f \u0000\n"), false));
    }

    @Test
    void commandLineJson() throws IOException {
        assertEquals("b", QmpText.parse("{'a': \"b\"}".getBytes(StandardCharsets.UTF_8)).get("a").asText());
        assertEquals("Expecting at most one JSON value",
                assertThrows(IOException.class, () -> QmpText.parse("{} {}".getBytes(StandardCharsets.UTF_8))).getMessage());
        assertEquals("Expecting a JSON value", assertThrows(IOException.class, () -> QmpText.parse(" ".getBytes(StandardCharsets.UTF_8))).getMessage());
        assertEquals("JSON parse error, premature EOI",
                assertThrows(IOException.class, () -> QmpText.parse("{\"a\": [1".getBytes(StandardCharsets.UTF_8))).getMessage());
    }
}
