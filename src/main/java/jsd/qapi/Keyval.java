package jsd.qapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * QEMU's keyval syntax: "key=val,a.b=val2,list.0=x", with ",," standing for
 * a literal comma inside a value and an optional implied first key
 * ("nbd,id=e" means "type=nbd,id=e"). The result is a tree of objects,
 * arrays (for keys 0, 1, 2 ...) and strings, to be checked against the
 * schema by {@link InputVisitor#keyval}.
 */
public final class Keyval {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private Keyval() {}

    public static ObjectNode parse(String text, String impliedKey) {
        ObjectNode root = F.objectNode();
        int pos = 0;
        boolean first = true;
        while (pos < text.length()) {
            // the key runs to '=' or ','
            int keyEnd = pos;
            while (keyEnd < text.length() && text.charAt(keyEnd) != '=' && text.charAt(keyEnd) != ',') keyEnd++;
            String key;
            int valStart;
            if (keyEnd == text.length() || text.charAt(keyEnd) == ',') {
                if (!(first && impliedKey != null)) {
                    String frag = text.substring(pos, keyEnd);
                    if (frag.isEmpty()) throw QapiError.generic("Invalid parameter ''");
                    throw QapiError.generic("Expected '=' after parameter '%s'", frag);
                }
                key = impliedKey;
                valStart = pos;
            } else {
                key = text.substring(pos, keyEnd);
                valStart = keyEnd + 1;
            }
            StringBuilder val = new StringBuilder();
            int p = valStart;
            while (p < text.length()) {
                char c = text.charAt(p);
                if (c == ',') {
                    if (p + 1 < text.length() && text.charAt(p + 1) == ',') { val.append(','); p += 2; continue; }
                    break;
                }
                val.append(c);
                p++;
            }
            put(root, key, val.toString());
            pos = p + 1;
            first = false;
        }
        return (ObjectNode) listify(root, null);
    }

    private static void put(ObjectNode root, String key, String value) {
        String[] frags = key.split("\\.", -1);
        for (String f : frags) {
            if (f.isEmpty() || !f.chars().allMatch(c -> Character.isLetterOrDigit(c) || c == '-' || c == '_' || c == '+')) {
                throw QapiError.generic("Invalid parameter '%s'", key);
            }
        }
        ObjectNode cur = root;
        for (int i = 0; i < frags.length - 1; i++) {
            JsonNode next = cur.get(frags[i]);
            if (next == null) {
                next = F.objectNode();
                cur.set(frags[i], next);
            } else if (!next.isObject()) {
                throw QapiError.generic("Parameters '%s.*' used inconsistently", String.join(".", List.of(frags).subList(0, i + 1)));
            }
            cur = (ObjectNode) next;
        }
        String last = frags[frags.length - 1];
        JsonNode old = cur.get(last);
        if (old != null && old.isObject()) throw QapiError.generic("Parameters '%s.*' used inconsistently", key);
        cur.put(last, value); // a repeated key: the last one wins, as in QEMU
    }

    /** Objects whose keys are exactly 0..n-1 become arrays. */
    private static JsonNode listify(JsonNode node, String path) {
        if (!node.isObject()) return node;
        ObjectNode obj = (ObjectNode) node;
        List<String> keys = new ArrayList<>();
        obj.fieldNames().forEachRemaining(keys::add);
        boolean numeric = !keys.isEmpty() && keys.stream().allMatch(k -> k.chars().allMatch(Character::isDigit));
        boolean anyNumeric = keys.stream().anyMatch(k -> k.chars().allMatch(Character::isDigit));
        if (anyNumeric && !numeric) throw QapiError.generic("Parameter '%s' used inconsistently", path);
        for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            e.setValue(listify(e.getValue(), path == null ? e.getKey() : path + "." + e.getKey()));
        }
        if (!numeric) return obj;
        ArrayNode arr = F.arrayNode();
        for (int i = 0; i < keys.size(); i++) {
            JsonNode e = obj.get(Integer.toString(i));
            if (e == null) throw QapiError.generic("Parameter '%s.%d' missing", path, i);
            arr.add(e);
        }
        return arr;
    }
}
