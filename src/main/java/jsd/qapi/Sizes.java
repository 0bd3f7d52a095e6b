package jsd.qapi;

import java.math.BigDecimal;
import java.math.BigInteger;

/** Sizes as the command line writes them: "512", "64k", "1.5G", "2T" (binary units). */
public final class Sizes {
    private Sizes() {}

    public static BigInteger parse(String s, String path) {
        String t = s.trim();
        if (t.isEmpty()) throw bad(path);
        int shift = 0;
        char last = Character.toUpperCase(t.charAt(t.length() - 1));
        String units = "BKMGTPE";
        int u = units.indexOf(last);
        if (u >= 0) {
            shift = 10 * u;
            t = t.substring(0, t.length() - 1);
        }
        try {
            BigDecimal d = new BigDecimal(t);
            if (d.signum() < 0) throw bad(path);
            if (d.scale() > 0 && shift == 0) throw bad(path);
            BigInteger v = d.multiply(new BigDecimal(BigInteger.ONE.shiftLeft(shift))).toBigInteger();
            if (v.bitLength() > 64) throw bad(path);
            return v;
        } catch (NumberFormatException e) {
            throw bad(path);
        }
    }

    private static QapiError bad(String path) {
        return QapiError.generic("Parameter '%s' expects size", path);
    }
}
