package jsd.crypto;

/**
 * Shell-style pattern matching with the rules of fnmatch(3) without flags,
 * which QEMU's authz-list uses: '*' any run of characters (slashes and
 * leading dots included), '?' one character, '[...]' a set with ranges and
 * '!' or '^' negation, backslash quotes the next character.
 */
public final class Glob {
    private Glob() {}

    public static boolean matches(String pattern, String text) {
        return match(pattern, 0, text, 0);
    }

    private static boolean match(String p, int pi, String s, int si) {
        // Iterative with one backtrack point for the last '*': linear enough, no recursion depth issues.
        int starP = -1;
        int starS = -1;
        while (true) {
            if (pi < p.length()) {
                char c = p.charAt(pi);
                if (c == '*') {
                    starP = ++pi;
                    starS = si;
                    continue;
                }
                if (si < s.length()) {
                    int consumed = single(p, pi, s.charAt(si));
                    if (consumed > 0) {
                        pi += consumed;
                        si++;
                        continue;
                    }
                }
            } else if (si == s.length()) {
                return true;
            }
            // mismatch: let the last '*' swallow one more character
            if (starP < 0 || starS >= s.length()) return false;
            pi = starP;
            si = ++starS;
        }
    }

    /** How many pattern characters matched the text character ch at p[pi], or 0 for no match. */
    private static int single(String p, int pi, char ch) {
        char c = p.charAt(pi);
        if (c == '?') return 1;
        if (c == '\\' && pi + 1 < p.length()) return p.charAt(pi + 1) == ch ? 2 : 0;
        if (c == '[') {
            int end = bracketEnd(p, pi);
            if (end > 0) return inSet(p, pi + 1, end, ch) ? end - pi + 1 : 0;
            // an unclosed '[' is an ordinary character
        }
        return c == ch ? 1 : 0;
    }

    /** Index of the ']' closing the set opened at p[open], or -1. */
    private static int bracketEnd(String p, int open) {
        int i = open + 1;
        if (i < p.length() && (p.charAt(i) == '!' || p.charAt(i) == '^')) i++;
        if (i < p.length() && p.charAt(i) == ']') i++; // a leading ']' is a member
        for (; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '\\') i++;
            else if (c == ']') return i;
        }
        return -1;
    }

    private static boolean inSet(String p, int from, int end, char ch) {
        boolean negate = p.charAt(from) == '!' || p.charAt(from) == '^';
        int i = negate ? from + 1 : from;
        boolean found = false;
        boolean first = true;
        while (i < end) {
            char lo = p.charAt(i);
            if (lo == '\\' && i + 1 < end) lo = p.charAt(++i);
            else if (lo == ']' && !first) break;
            first = false;
            i++;
            char hi = lo;
            if (i + 1 < end && p.charAt(i) == '-') {
                int j = i + 1;
                if (p.charAt(j) == '\\' && j + 1 < end) j++;
                hi = p.charAt(j);
                i = j + 1;
            }
            if (lo <= ch && ch <= hi) found = true;
        }
        return found != negate;
    }
}
