package jsd.qapi;

import java.util.List;
import java.util.Map;

/** A type of the QAPI schema, after conditions have been applied. */
public sealed interface SchemaType {
    String name();

    /** str, int, int8 ... uint64, size, number, bool, null, any. */
    record Builtin(String name, String jsonType) implements SchemaType {}

    record EnumType(String name, List<String> values, Map<String, List<String>> valueFeatures) implements SchemaType {}

    record ArrayType(String name, String elementType) implements SchemaType {}

    /**
     * A struct, or a flat union: base members first, then its own. A union
     * names its tag member and the object type of each tag value's variant.
     */
    record ObjectType(String name, List<Member> members, String tag, Map<String, String> variants,
                      List<String> features) implements SchemaType {
        public boolean isUnion() { return tag != null; }
    }

    record AlternateType(String name, List<Member> alternatives) implements SchemaType {}

    record Member(String name, String type, boolean optional, List<String> features) {}
}
