# Sourced by the project's scripts: sets JAVA and JAVA_HOME to a Java 25 (or
# newer) JDK: $JAVA_HOME if it is one, else a JDK under /usr/lib/jvm, else
# the java on PATH. Users never set JAVA_HOME by hand.
java_major() {
    # a JDK's "release" file names its version; reading it is much cheaper than starting a JVM
    local release; release="$(dirname "$(dirname "$(readlink -f "$1")")")/release"
    if [ -f "$release" ]; then
        sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release" | head -1
        return
    fi
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -1
}
jsd_find_java() {
    local candidate
    for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/java-25* /usr/lib/jvm/*; do
        [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
        local v; v="$(java_major "$candidate/bin/java")"
        if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then
            export JAVA_HOME="$candidate"; JAVA="$candidate/bin/java"; return 0
        fi
    done
    if command -v java >/dev/null; then
        local v; v="$(java_major java)"
        if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then
            JAVA="$(command -v java)"; export JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$JAVA")")")"; return 0
        fi
    fi
    echo "jsd: no Java 25 JDK found (looked at \$JAVA_HOME, /usr/lib/jvm and PATH)" >&2
    return 1
}
jsd_find_java
