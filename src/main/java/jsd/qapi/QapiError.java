package jsd.qapi;

/**
 * An error that reaches a QMP client as {"error": {"class": ..., "desc": ...}}
 * or the command line as a message. The class names are QMP's ErrorClass.
 */
public final class QapiError extends RuntimeException {
    public enum ErrorClass { GenericError, CommandNotFound, DeviceNotActive, DeviceNotFound, KVMMissingCap }

    private final ErrorClass errorClass;

    public QapiError(ErrorClass errorClass, String desc) {
        super(desc, null, false, false);
        this.errorClass = errorClass;
    }

    public static QapiError generic(String format, Object... args) {
        return new QapiError(ErrorClass.GenericError, args.length == 0 ? format : String.format(format, args));
    }

    private String hint;

    /** Advice printed after the message on the command line (QEMU's error hints; QMP does not carry them). */
    public QapiError withHint(String text) {
        hint = text;
        return this;
    }

    public String hint() { return hint; }

    public ErrorClass errorClass() { return errorClass; }

    public String desc() { return getMessage(); }
}
