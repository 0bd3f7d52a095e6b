package jsd.crypto;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The decisions of the authz objects: glob rules as fnmatch(3), rule order, defaults, file refresh. */
class AuthzTest {
    @Test
    void globFollowsFnmatch() {
        assertTrue(Glob.matches("dan*", "dan"));
        assertTrue(Glob.matches("dan*", "danb"));
        assertFalse(Glob.matches("dan*", "da"));
        assertTrue(Glob.matches("*", ""));
        assertTrue(Glob.matches("*/x", "a/b/x"), "'*' crosses slashes without FNM_PATHNAME");
        assertTrue(Glob.matches("?ob", "bob"));
        assertFalse(Glob.matches("?ob", "ob"));
        assertTrue(Glob.matches("CN=*,O=Example Org", "CN=laptop,O=Example Org"));
        assertFalse(Glob.matches("CN=*,O=Example Org", "CN=laptop,O=Example Org,C=GB"));
        assertTrue(Glob.matches("[a-c]x", "bx"));
        assertFalse(Glob.matches("[a-c]x", "dx"));
        assertTrue(Glob.matches("[!a-c]x", "dx"));
        assertFalse(Glob.matches("[^a-c]x", "ax"));
        assertTrue(Glob.matches("[]]", "]"));
        assertTrue(Glob.matches("[a-]", "-"));
        assertTrue(Glob.matches("\\*", "*"));
        assertFalse(Glob.matches("\\*", "x"));
        assertTrue(Glob.matches("[", "["), "an unclosed bracket is literal");
        assertTrue(Glob.matches("a*b*c", "aXXbYYc"));
        assertFalse(Glob.matches("a*b*c", "aXXbYY"));
        assertTrue(Glob.matches("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assertFalse(Glob.matches("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }

    @Test
    void listRulesApplyInOrderThenThePolicy() throws Exception {
        var props = new ObjectMapper().readTree("""
                {"rules": [
                   {"match": "fred", "policy": "allow", "format": "exact"},
                   {"match": "bob", "policy": "allow"},
                   {"match": "danb", "policy": "deny", "format": "exact"},
                   {"match": "dan*", "policy": "allow", "format": "glob"}],
                 "policy": "deny"}""");
        AuthzList a = new AuthzList(AuthzList.Policy.of(props));
        assertTrue(a.isAllowed("fred"));
        assertTrue(a.isAllowed("bob"));
        assertFalse(a.isAllowed("danb"), "the earlier deny wins");
        assertTrue(a.isAllowed("dan"));
        assertTrue(a.isAllowed("danx"));
        assertFalse(a.isAllowed("bo*"), "exact is exact");
        assertFalse(a.isAllowed("mallory"));
        assertFalse(new AuthzList(AuthzList.Policy.of(new ObjectMapper().readTree("{}"))).isAllowed("x"), "deny by default");
        assertTrue(new AuthzList(AuthzList.Policy.of(new ObjectMapper().readTree("{\"policy\":\"allow\"}"))).isAllowed("x"));
        assertTrue(new AuthzSimple("fred").isAllowed("fred"));
        assertFalse(new AuthzSimple("fred").isAllowed("Fred"));
    }

    @Test
    void listFileReloadsWhenItChanges() throws Exception {
        Path dir = Files.createTempDirectory("jsd-authz-");
        Path acl = dir.resolve("acl.json");
        Files.writeString(acl, "{\"rules\": [{\"match\": \"fred\", \"policy\": \"allow\"}]}");
        AuthzListFile live = new AuthzListFile(acl.toString(), true);
        AuthzListFile fixed = new AuthzListFile(acl.toString(), false);
        assertTrue(live.isAllowed("fred"));
        assertFalse(live.isAllowed("bob"));

        // replaced by rename, as editors and config tools do
        Path next = dir.resolve("acl.json.new");
        Files.writeString(next, "{\"rules\": [{\"match\": \"b*\", \"policy\": \"allow\", \"format\": \"glob\"}]}");
        Files.move(next, acl, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertTrue(live.isAllowed("bob"));
        assertFalse(live.isAllowed("fred"));
        assertTrue(fixed.isAllowed("fred"), "refresh=off keeps the rules it loaded");

        // a broken file denies everyone until it is fixed
        Files.writeString(acl, "{\"rules\": [");
        Files.setLastModifiedTime(acl, FileTime.from(Instant.now().plusSeconds(5)));
        assertFalse(live.isAllowed("bob"));
        Files.writeString(acl, "{\"policy\": \"allow\"}");
        Files.setLastModifiedTime(acl, FileTime.from(Instant.now().plusSeconds(10)));
        assertTrue(live.isAllowed("anyone"));

        Files.delete(acl);
        assertFalse(live.isAllowed("anyone"), "a vanished file denies");
        assertThrows(jsd.qapi.QapiError.class, () -> new AuthzListFile(acl.toString(), true));
    }
}
