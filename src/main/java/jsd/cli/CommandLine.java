package jsd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.InputVisitor;
import jsd.qapi.Keyval;
import jsd.qapi.QapiError;

import java.util.ArrayList;
import java.util.List;

/**
 * qemu-storage-daemon's command line: each option with its value, checked
 * against the schema, in the order given (options take effect in order,
 * so a --chardev must come before the --monitor that uses it).
 */
public final class CommandLine {
    /** One option: its name as typed, its raw value, and the value checked against the schema. */
    public record Option(String name, String raw, ObjectNode value) {}

    public record Parsed(List<Option> options, boolean help, boolean version, String pidfile, boolean daemonize,
                         boolean demo) {}

    private CommandLine() {}

    /** Thrown for a bad command line; the message is printed as "jsd: message". */
    public static final class UsageError extends RuntimeException {
        public UsageError(String message) { super(message, null, false, false); }
    }

    public static Parsed parse(String[] args) {
        List<Option> options = new ArrayList<>();
        boolean help = false, version = false, daemonize = false, demo = false;
        String pidfile = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg;
            String value = null;
            if (arg.startsWith("--") && arg.contains("=")) {
                name = arg.substring(0, arg.indexOf('='));
                value = arg.substring(arg.indexOf('=') + 1);
            }
            switch (name) {
                case "-h", "--help" -> help = true;
                case "-V", "--version" -> version = true;
                case "--daemonize" -> daemonize = true;
                case "--demo" -> demo = true;
                case "--pidfile", "--blockdev", "--chardev", "--export", "--monitor", "--nbd-server", "--object", "-T", "--trace" -> {
                    if (value == null) {
                        if (i + 1 >= args.length) throw new UsageError("option '" + name + "' requires an argument");
                        value = args[++i];
                    }
                    switch (name) {
                        case "--pidfile" -> pidfile = value;
                        case "-T", "--trace" -> { } // tracing is QEMU-internal; accepted and ignored
                        default -> options.add(new Option(name, value, check(name, value)));
                    }
                }
                default -> {
                    // getopt_long's wording: a long option by its name, a short one by its letter
                    if (arg.startsWith("--")) throw new UsageError("unrecognized option '" + arg + "'");
                    if (arg.startsWith("-") && arg.length() > 1) throw new UsageError("invalid option -- '" + arg.charAt(1) + "'");
                    throw new UsageError(arg + ": Unexpected argument");
                }
            }
        }
        return new Parsed(options, help, version, pidfile, daemonize, demo);
    }

    /** Parses one option's value (keyval or JSON) and checks it against the option's schema type. */
    static ObjectNode check(String name, String value) {
        try {
            return switch (name) {
                case "--blockdev" -> typed("BlockdevOptions", value, "driver");
                case "--export" -> typed("BlockExportOptions", value, "type");
                case "--nbd-server" -> typed("NbdServerOptions", value, null);
                case "--object" -> typed("ObjectOptions", value, "qom-type");
                case "--monitor" -> InputVisitor.keyval("MonitorOptions", Keyval.parse(value, "chardev"));
                case "--chardev" -> chardev(value);
                default -> throw new IllegalStateException(name);
            };
        } catch (QapiError e) {
            throw new UsageError(name + " " + value + ": " + e.desc());
        }
    }

    /** Character devices that QEMU has and jsd does not (their options are QEMU's, not jsd's). */
    private static final java.util.Set<String> QEMU_CHARDEVS = java.util.Set.of("null", "file", "pipe", "pty",
            "serial", "tty", "parallel", "parport", "ringbuf", "memory", "udp", "vc", "msmouse", "wctablet",
            "braille", "testdev", "spicevmc", "spiceport", "qemu-vdagent", "dbus", "mux");

    /** --chardev is QemuOpts in QEMU, not QAPI: its own messages for a missing id and unknown keys. */
    private static ObjectNode chardev(String value) {
        ObjectNode kv = Keyval.parse(value, "backend");
        if (!kv.has("id")) throw QapiError.generic("chardev: no id specified");
        String backend = kv.has("backend") ? kv.get("backend").asText() : "";
        if (backend.isEmpty()) throw QapiError.generic("chardev: \"%s\" missing backend", kv.get("id").asText());
        if (QEMU_CHARDEVS.contains(backend)) throw QapiError.generic("chardev backend '%s' is not supported by jsd", backend);
        if (!backend.equals("socket") && !backend.equals("stdio")) {
            throw QapiError.generic("'%s' is not a valid char driver name", backend);
        }
        try {
            return InputVisitor.keyval("JsdChardevOptions", kv);
        } catch (QapiError e) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("Parameter '(.*)' is unexpected").matcher(e.desc());
            if (m.matches()) throw QapiError.generic("Invalid parameter '%s'", m.group(1));
            throw e;
        }
    }

    private static ObjectNode typed(String type, String value, String impliedKey) {
        if (value.startsWith("{")) {
            JsonNode json;
            try {
                json = jsd.qmp.QmpText.parse(value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (java.io.IOException e) {
                throw QapiError.generic("%s", e.getMessage());
            }
            return InputVisitor.json(type, json);
        }
        return InputVisitor.keyval(type, Keyval.parse(value, impliedKey));
    }

    public static final String HELP = """
            Usage: jsd [options]
            jsd, a block export daemon compatible with qemu-storage-daemon

              -h, --help             display this help and exit
              -V, --version          output version information and exit

              --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]
                         [,cache.direct=on|off][,read-only=on|off]...
                                     configure a block backend (drivers: file, raw,
                                     qcow2, null-co, null-aio)

              --chardev socket,id=<id>,path=<path>,server=on,wait=off
              --chardev socket,id=<id>,host=<host>,port=<port>,server=on,wait=off
              --chardev stdio,id=<id>
                                     configure a character device for a monitor

              --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
                       [,writable=on|off][,bitmap=<name>][,allocation-depth=on|off]
              --export [type=]fuse,id=<id>,node-name=<node-name>,mountpoint=<file>
                       [,growable=on|off][,writable=on|off][,allow-other=on|off|auto]
              --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
                       addr.type=unix,addr.path=<socket-path>[,writable=on|off]
                       [,logical-block-size=<block-size>][,num-queues=<num-queues>]
              --export [type=]vduse-blk,id=<id>,node-name=<node-name>,name=<vduse-name>
                       [,writable=on|off][,num-queues=<num-queues>][,queue-size=<size>]
                       [,logical-block-size=<size>][,serial=<serial-number>]
                                     export the specified block node

              --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                                     configure a QMP monitor

              --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
                           [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
              --nbd-server addr.type=unix,addr.path=<path>
                           [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                                     start an NBD server for exporting block nodes

              --object help          list object types that can be added
              --object <type>,id=<id>[,<property>=<value>...]
                                     create a new object (tls-creds-x509, tls-creds-psk,
                                     secret, authz-simple, authz-list, authz-listfile,
                                     iothread)

              --pidfile <path>       write process ID to a file after startup
              --daemonize            daemonize the process, and have the parent exit
                                     once startup is complete

              --demo                 serve a built-in demo disk over NBD on localhost
                                     (no image needed) and print how to reach it

            Every option that takes a value accepts it in keyval form
            (driver=file,filename=disk.img) or as JSON ({"driver": "file", ...}).
            """;
}
