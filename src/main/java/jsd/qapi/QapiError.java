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

    public ErrorClass errorClass() { return errorClass; }

    public String desc() { return getMessage(); }
}
