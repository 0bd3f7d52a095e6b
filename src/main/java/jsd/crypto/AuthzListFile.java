package jsd.crypto;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jsd.qapi.InputVisitor;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * authz-listfile: the rules of authz-list kept in a JSON file
 * ({"policy": ..., "rules": [...]}). With refresh (the default, as in QEMU
 * built with inotify) a change to the file is picked up: every decision
 * first compares the file's identity, size and modification time with
 * those last loaded and reloads when they differ. This needs no watcher
 * thread and sees replacements by rename too. If a reload fails, every
 * identity is denied until the file loads again (QEMU's rule).
 */
public final class AuthzListFile implements Authz {
    public static final String TYPE = "authz-listfile";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What identifies one version of the file. */
    private record Stamp(Object key, long size, long modified) {}

    private final Path file;
    private final boolean refresh;
    private volatile AuthzList.Policy policy; // null after a failed reload: deny all
    private volatile Stamp loaded;

    public AuthzListFile(String filename, boolean refresh) {
        this.file = Path.of(filename);
        this.refresh = refresh;
        Stamp s = stamp();
        this.policy = load(file); // errors here fail object creation
        this.loaded = s;
    }

    @Override
    public boolean isAllowed(String identity) {
        if (refresh) reloadIfChanged();
        AuthzList.Policy p = policy;
        return p != null && p.decide(identity);
    }

    private synchronized void reloadIfChanged() {
        Stamp now = stamp();
        if (Objects.equals(now, loaded)) return;
        try {
            policy = load(file);
        } catch (QapiError e) {
            policy = null;
            System.err.println("jsd: authz-listfile " + file + ": " + e.desc() + "; denying all until it loads");
        }
        loaded = now;
    }

    private Stamp stamp() {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new Stamp(a.fileKey(), a.size(), a.lastModifiedTime().toMillis() * 1_000_000L
                    + a.lastModifiedTime().toInstant().getNano() % 1_000_000);
        } catch (IOException e) {
            return null;
        }
    }

    static AuthzList.Policy load(Path file) {
        byte[] text;
        try {
            text = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw QapiError.generic("Failed to open file \u201c%s\u201d: No such file or directory", file);
        } catch (IOException e) {
            throw QapiError.generic("Failed to read file \u201c%s\u201d: %s", file, e.getMessage());
        }
        JsonNode tree;
        try {
            tree = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw QapiError.generic("Unable to parse '%s': %s", file, e.getOriginalMessage());
        } catch (IOException e) {
            throw QapiError.generic("Unable to parse '%s': %s", file, e.getMessage());
        }
        if (tree == null || !tree.isObject()) {
            throw QapiError.generic("File '%s' must contain a JSON object", file);
        }
        try {
            return AuthzList.Policy.of(InputVisitor.json("AuthZListProperties", tree));
        } catch (QapiError e) {
            throw QapiError.generic("File '%s': %s", file, e.desc());
        }
    }
}
