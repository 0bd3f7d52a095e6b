package jsd.crypto;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * authz-list: rules tried in order, the first whose pattern matches decides;
 * when none matches the list's own policy applies (deny unless set).
 */
public final class AuthzList implements Authz {
    public static final String TYPE = "authz-list";

    public enum Format { EXACT, GLOB }

    public record Rule(String match, boolean allow, Format format) {
        boolean matches(String identity) {
            return format == Format.EXACT ? match.equals(identity) : Glob.matches(match, identity);
        }
    }

    /** A rule list and its default, swapped as a whole so readers never see half an update. */
    public record Policy(List<Rule> rules, boolean allowByDefault) {
        public boolean decide(String identity) {
            for (Rule r : rules) {
                if (r.matches(identity)) return r.allow();
            }
            return allowByDefault;
        }

        /** From checked AuthZListProperties (schema-validated JSON). */
        public static Policy of(JsonNode props) {
            List<Rule> rules = new ArrayList<>();
            JsonNode rs = props.get("rules");
            if (rs != null && rs.isArray()) {
                for (JsonNode r : rs) {
                    Format f = r.hasNonNull("format") && r.get("format").asText().equals("glob") ? Format.GLOB : Format.EXACT;
                    rules.add(new Rule(r.get("match").asText(), r.get("policy").asText().equals("allow"), f));
                }
            }
            boolean allow = props.hasNonNull("policy") && props.get("policy").asText().equals("allow");
            return new Policy(List.copyOf(rules), allow);
        }
    }

    private final Policy policy;

    public AuthzList(Policy policy) { this.policy = policy; }

    @Override
    public boolean isAllowed(String identity) { return policy.decide(identity); }
}
