package jsd.crypto;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Map;

/**
 * A certificate's subject as the text QEMU uses for tls-authz. QEMU takes
 * GnuTLS's gnutls_x509_crt_get_dn(), which (GnuTLS 3.7, as shipped with
 * qemu 7.2 in Debian 12) lists the RDNs in the order they are encoded, C
 * first: "C=GB,ST=London,L=London,O=Example Org,CN=laptop.example.com";
 * attribute values of a multi-valued RDN are joined with '+' in encoded
 * order; special characters are escaped as in RFC 4514. Java's
 * X500Principal prints the reverse order and different keywords, hence
 * this small DER walk.
 */
public final class DistinguishedName {
    private DistinguishedName() {}

    private static final Map<String, String> NAMES = Map.ofEntries(
            Map.entry("2.5.4.3", "CN"), Map.entry("2.5.4.6", "C"), Map.entry("2.5.4.7", "L"),
            Map.entry("2.5.4.8", "ST"), Map.entry("2.5.4.9", "STREET"), Map.entry("2.5.4.10", "O"),
            Map.entry("2.5.4.11", "OU"), Map.entry("2.5.4.12", "title"), Map.entry("2.5.4.4", "surName"),
            Map.entry("2.5.4.42", "givenName"), Map.entry("2.5.4.43", "initials"),
            Map.entry("2.5.4.44", "generationQualifier"), Map.entry("2.5.4.46", "dnQualifier"),
            Map.entry("2.5.4.5", "serialNumber"), Map.entry("2.5.4.65", "pseudonym"),
            Map.entry("2.5.4.17", "postalCode"), Map.entry("2.5.4.97", "organizationIdentifier"),
            Map.entry("0.9.2342.19200300.100.1.25", "DC"), Map.entry("0.9.2342.19200300.100.1.1", "UID"),
            Map.entry("1.2.840.113549.1.9.1", "EMAIL"));

    /** Formats a DER-encoded X.501 Name (X500Principal.getEncoded()). */
    public static String format(byte[] der) {
        Der name = new Der(der, 0, der.length);
        Der rdns = name.enter(0x30);
        StringBuilder sb = new StringBuilder();
        while (rdns.more()) {
            Der set = rdns.enter(0x31);
            if (!sb.isEmpty()) sb.append(',');
            boolean first = true;
            while (set.more()) {
                Der ava = set.enter(0x30);
                if (!first) sb.append('+');
                first = false;
                String oid = ava.oid();
                int valueStart = ava.pos;
                int tag = ava.peekTag();
                byte[] value = ava.value();
                String key = NAMES.get(oid);
                if (key == null) {
                    sb.append(oid).append("=#").append(HexFormat.of().formatHex(der, valueStart, ava.pos));
                    continue;
                }
                String text = decode(tag, value);
                sb.append(key).append('=');
                if (text == null) sb.append('#').append(HexFormat.of().formatHex(der, valueStart, ava.pos));
                else escape(text, sb);
            }
        }
        return sb.toString();
    }

    private static String decode(int tag, byte[] v) {
        return switch (tag) {
            case 0x0c, 0x13, 0x16, 0x1a -> new String(v, StandardCharsets.UTF_8); // UTF8, Printable, IA5, Visible
            case 0x14 -> new String(v, StandardCharsets.ISO_8859_1);               // Teletex, read as Latin-1
            case 0x1e -> new String(v, StandardCharsets.UTF_16BE);                 // BMP
            case 0x1c -> new String(v, java.nio.charset.Charset.forName("UTF-32BE")); // Universal
            default -> null;
        };
    }

    private static void escape(String s, StringBuilder sb) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean special = ",+\"\\<>;".indexOf(c) >= 0
                    || (i == 0 && (c == '#' || c == ' '))
                    || (i == s.length() - 1 && c == ' ');
            if (special) sb.append('\\');
            sb.append(c);
        }
    }

    /** A cursor over DER: just enough to walk a Name. Positions are absolute in buf. */
    private static final class Der {
        final byte[] buf;
        final int start;
        final int end;
        int pos;

        Der(byte[] buf, int start, int end) {
            this.buf = buf;
            this.start = start;
            this.end = end;
            this.pos = start;
        }

        boolean more() { return pos < end; }

        int peekTag() {
            need(1);
            return buf[pos] & 0xff;
        }

        /** Reads one TLV with the expected tag; returns a cursor over its contents. */
        Der enter(int tag) {
            if (peekTag() != tag) throw new IllegalArgumentException("unexpected DER tag " + peekTag());
            pos++;
            int len = length();
            need(len);
            Der inner = new Der(buf, pos, pos + len);
            pos += len;
            return inner;
        }

        byte[] value() {
            pos++; // tag
            int len = length();
            need(len);
            byte[] v = java.util.Arrays.copyOfRange(buf, pos, pos + len);
            pos += len;
            return v;
        }

        String oid() {
            if (peekTag() != 0x06) throw new IllegalArgumentException("expected an OID");
            byte[] v = value();
            StringBuilder sb = new StringBuilder();
            long acc = 0;
            boolean firstArc = true;
            for (byte b : v) {
                acc = (acc << 7) | (b & 0x7f);
                if ((b & 0x80) != 0) continue;
                if (firstArc) {
                    int top = acc < 40 ? 0 : acc < 80 ? 1 : 2;
                    sb.append(top).append('.').append(acc - 40L * top);
                    firstArc = false;
                } else {
                    sb.append('.').append(acc);
                }
                acc = 0;
            }
            return sb.toString();
        }

        private int length() {
            need(1);
            int b = buf[pos++] & 0xff;
            if (b < 0x80) return b;
            int n = b & 0x7f;
            if (n == 0 || n > 3) throw new IllegalArgumentException("bad DER length");
            need(n);
            int len = 0;
            for (int i = 0; i < n; i++) len = (len << 8) | (buf[pos++] & 0xff);
            return len;
        }

        private void need(int n) {
            if (n < 0 || pos + n > end) throw new IllegalArgumentException("truncated DER");
        }
    }
}
