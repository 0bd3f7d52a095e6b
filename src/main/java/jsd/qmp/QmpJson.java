package jsd.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;

/** JSON as QMP speaks it: QEMU's parser extensions on input, QEMU's spacing on output. */
public final class QmpJson {
    private QmpJson() {}

    public static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .enable(JsonReadFeature.ALLOW_SINGLE_QUOTES)
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .build();

    /** {"a": 1, "b": [1, 2]}: the separators QEMU writes. */
    private static final class QemuSpacing extends MinimalPrettyPrinter {
        @Override public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException { g.writeRaw(": "); }

        @Override public void writeObjectEntrySeparator(JsonGenerator g) throws IOException { g.writeRaw(", "); }

        @Override public void writeArrayValueSeparator(JsonGenerator g) throws IOException { g.writeRaw(", "); }
    }

    private static final DefaultPrettyPrinter PRETTY = new DefaultPrettyPrinter()
            .withObjectIndenter(new DefaultIndenter("    ", "\n"))
            .withArrayIndenter(new DefaultIndenter("    ", "\n"));

    public static String write(JsonNode node, boolean pretty) {
        try {
            return MAPPER.writer(pretty ? PRETTY : new QemuSpacing()).writeValueAsString(node);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static JsonNode parse(byte[] json) throws IOException {
        try (JsonParser p = MAPPER.createParser(json)) {
            JsonNode n = MAPPER.readTree(p);
            if (p.nextToken() != null) throw new com.fasterxml.jackson.core.JsonParseException(p, "trailing data");
            return n;
        }
    }
}
