package jsd.crypto;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.UserObjects;
import jsd.qapi.QapiError;

import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Base64;

/**
 * The {@code secret} object: bytes given inline (data) or in a file, raw or
 * base64, optionally AES-256-CBC encrypted with another secret (keyid + iv).
 * The value is decoded once at creation, as QEMU does, so later changes to
 * the file do not matter.
 */
public final class Secret {
    public static final String TYPE = "secret";

    private final byte[] value;

    private Secret(byte[] value) { this.value = value; }

    /** A copy of the secret's bytes (the caller may wipe it). */
    public byte[] bytes() { return value.clone(); }

    /** The secret as text (passwords). */
    public String text() { return new String(value, StandardCharsets.UTF_8); }

    static Secret create(ObjectNode o, UserObjects objects) throws IOException {
        boolean hasData = o.hasNonNull("data");
        boolean hasFile = o.hasNonNull("file");
        if (hasData && hasFile) throw QapiError.generic("'file' and 'data' are mutually exclusive");
        if (!hasData && !hasFile) throw QapiError.generic("Either 'file' or 'data' must be provided");
        boolean base64 = "base64".equals(text(o, "format"));

        byte[] raw;
        if (hasData) {
            raw = o.get("data").asText().getBytes(StandardCharsets.UTF_8);
        } else {
            String file = o.get("file").asText();
            try {
                raw = Files.readAllBytes(Path.of(file));
            } catch (NoSuchFileException e) {
                throw QapiError.generic("Unable to read %s: Failed to open file \u201c%s\u201d: No such file or directory", file, file);
            } catch (IOException e) {
                throw QapiError.generic("Unable to read %s: %s", file, e.getMessage());
            }
        }

        String keyid = text(o, "keyid");
        if (keyid != null) {
            // With a key, the format describes the ciphertext; the plaintext is used as is.
            return new Secret(decrypt(base64 ? decodeBase64(raw) : raw, keyid, text(o, "iv"), objects));
        }
        return new Secret(base64 ? decodeBase64(raw) : raw);
    }

    /** The bytes of the secret with this id, or the error QEMU gives when there is none. */
    public static Secret lookup(UserObjects objects, String id) {
        Object s = objects.instance(id, TYPE);
        if (s == null) throw QapiError.generic("No secret with id '%s'", id);
        return (Secret) s;
    }

    private static byte[] decrypt(byte[] cipherText, String keyid, String ivText, UserObjects objects) {
        byte[] key = lookup(objects, keyid).value;
        if (key.length != 32) throw QapiError.generic("Key should be 32 bytes in length");
        if (ivText == null) throw QapiError.generic("IV is required to decrypt secret");
        byte[] iv = decodeBase64(ivText.getBytes(StandardCharsets.US_ASCII));
        if (iv.length != 16) throw QapiError.generic("IV should be 16 bytes in length not %d", iv.length);
        try {
            Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
            return c.doFinal(cipherText);
        } catch (GeneralSecurityException e) {
            throw QapiError.generic("Incorrect number of padding bytes (%s)", e.getMessage());
        }
    }

    private static byte[] decodeBase64(byte[] in) {
        try {
            // QEMU's decoder tolerates a trailing newline in files
            int end = in.length;
            while (end > 0 && (in[end - 1] == '\n' || in[end - 1] == '\r')) end--;
            return Base64.getDecoder().decode(Arrays.copyOf(in, end));
        } catch (IllegalArgumentException e) {
            throw QapiError.generic("Base64 data contains invalid characters");
        }
    }

    private static String text(ObjectNode o, String name) {
        JsonNode n = o.get(name);
        return n == null || n.isNull() ? null : n.asText();
    }
}
