package jsd.crypto;

/** authz-simple: exactly one identity is allowed. */
public record AuthzSimple(String identity) implements Authz {
    public static final String TYPE = "authz-simple";

    @Override
    public boolean isAllowed(String who) { return identity.equals(who); }
}
