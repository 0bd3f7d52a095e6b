package jsd.qapi;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The keyval syntax and the schema check of command-line values, in-process
 * (a supplement: the command line itself is tested on the real daemon in
 * jsd.cli.CommandLineTest).
 */
class KeyvalTest {
    static JsonNode json(String s) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(s);
        } catch (Exception e) {
            throw new IllegalArgumentException(e);
        }
    }

    static String error(Runnable r) { return assertThrows(QapiError.class, r::run).desc(); }

    @Test
    void syntax() {
        assertEquals(json("{\"type\": \"nbd\", \"id\": \"e\"}"), Keyval.parse("nbd,id=e", "type"));
        assertEquals(json("{\"addr\": {\"type\": \"inet\", \"host\": \"::1\"}}"), Keyval.parse("addr.type=inet,addr.host=::1", null));
        assertEquals(json("{\"filename\": \"a,b\", \"x\": \"\"}"), Keyval.parse("filename=a,,b,x=", null));
        assertEquals(json("{\"l\": [\"a\", \"b\"]}"), Keyval.parse("l.1=b,l.0=a", null));
        assertEquals(json("{\"a\": \"2\"}"), Keyval.parse("a=1,a=2", null));
        assertEquals("Expected '=' after parameter 'b'", error(() -> Keyval.parse("a=1,b", null)));
        assertEquals("Invalid parameter ''", error(() -> Keyval.parse("=1", null)));
        assertEquals("Invalid parameter 'a..b'", error(() -> Keyval.parse("a..b=1", null)));
        assertEquals("Parameters 'a.*' used inconsistently", error(() -> Keyval.parse("a.b=1,a=2", null)));
        assertEquals("Parameters 'a.*' used inconsistently", error(() -> Keyval.parse("a=2,a.b=1", null)));
    }

    @Test
    void valuesCheckedAgainstTheSchema() {
        JsonNode v = InputVisitor.keyval("BlockdevOptions", Keyval.parse(
                "null-co,node-name=n,size=0x1000,read-zeroes=on,read-only=yes,cache.direct=off,latency-ns=010", "driver"));
        assertEquals(4096, v.get("size").asLong());
        assertEquals(true, v.get("read-zeroes").asBoolean());
        assertEquals(true, v.get("read-only").asBoolean());
        assertEquals(false, v.get("cache").get("direct").asBoolean());
        assertEquals(8, v.get("latency-ns").asLong()); // strtoull: a leading 0 means octal
        assertEquals("Parameter 'read-only' expects 'on' or 'off'",
                error(() -> InputVisitor.keyval("BlockdevOptions", Keyval.parse("null-co,node-name=n,read-only=2", "driver"))));
        JsonNode vu = InputVisitor.keyval("BlockExportOptions", Keyval.parse(
                "vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=p,logical-block-size=4k,num-queues=2", "type"));
        assertEquals(4096, vu.get("logical-block-size").asLong());
        assertEquals(1536, InputVisitor.keyval("BlockExportOptions", Keyval.parse(
                "vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=p,logical-block-size=1.5k", "type")).get("logical-block-size").asLong());
        assertEquals("Parameter 'logical-block-size' expects size", error(() -> InputVisitor.keyval("BlockExportOptions",
                Keyval.parse("vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=p,logical-block-size=4q", "type"))));
        assertEquals("Parameter 'num-queues' expects uint16_t", error(() -> InputVisitor.keyval("BlockExportOptions",
                Keyval.parse("vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=p,num-queues=-1", "type"))));
    }

    @Test
    void jsonValuesAsQmpChecksThem() {
        assertEquals("Invalid parameter type for 'size', expected: integer",
                error(() -> InputVisitor.json("BlockdevOptions", json("{\"driver\": \"null-co\", \"size\": 1.0}"))));
        assertEquals("Parameter 'latency-ns' expects uint64",
                error(() -> InputVisitor.json("BlockdevOptions", json("{\"driver\": \"null-co\", \"latency-ns\": \"1\"}"))));
        assertEquals("Parameter 'file.x' is unexpected", error(() -> InputVisitor.json("BlockdevOptions",
                json("{\"driver\": \"raw\", \"file\": {\"driver\": \"null-co\", \"x\": 1}}"))));
    }
}
