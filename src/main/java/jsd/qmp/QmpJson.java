package jsd.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;

/** JSON helpers for QMP: a Jackson mapper for building values, and QEMU's text form ({@link QmpText}). */
public final class QmpJson {
    private QmpJson() {}

    /** A plain Jackson mapper for building values (not used to read or write QMP text). */
    public static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .enable(JsonReadFeature.ALLOW_SINGLE_QUOTES)
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .build();

    /** QMP output text; see {@link QmpText#write}. */
    public static String write(JsonNode node, boolean pretty) { return QmpText.write(node, pretty); }

    /** One JSON value as QEMU's qobject_from_json reads it; see {@link QmpText#parse}. */
    public static JsonNode parse(byte[] json) throws IOException { return QmpText.parse(json); }
}
