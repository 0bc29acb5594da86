package ctrbench.flink.format;

/**
 * An integer by the event rule of {@code services/ctrbench/validity.py}: an optional {@code -}, then
 * one or more ASCII digits and nothing else, within the SQL type's range. Leading zeros are allowed;
 * {@code " 7"}, {@code "+7"}, {@code "7.0"} and non-ASCII digits are not integers.
 *
 * <p>Replaces {@code CASE WHEN IS_DIGIT(...) THEN TRY_CAST(...) END} in the job's SQL: that form decoded the
 * text to a Java string, trimmed and copied it, and Flink's code generation evaluates it at every
 * reference (the event time appears a dozen times per record between the watermark, the window and the
 * rule), which made it a third of the source task's CPU. Here a reference is one pass over the chars of
 * the string the JSON parser already made, and only the first reference per record parses
 * ({@link RuleIntegerFunction}).
 */
final class RuleInteger {

    private RuleInteger() {}

    /** The value of {@code text}, or null when it is not an integer by the rule or outside [min, max]. */
    static Long parse(String text, long min, long max) {
        if (text == null) {
            return null;
        }
        int length = text.length();
        int i = 0;
        boolean negative = length > 0 && text.charAt(0) == '-';
        if (negative) {
            i = 1;
        }
        if (i == length) {
            return null; // "" or "-"
        }
        // Accumulated as a negative number, as Long.parseLong does, so that min itself fits.
        long limit = negative ? min : -max;
        long beforeLastDigit = limit / 10;
        long value = 0;
        for (; i < length; i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            int digit = c - '0';
            if (value < beforeLastDigit) {
                return null;
            }
            value *= 10;
            if (value < limit + digit) {
                return null;
            }
            value -= digit;
        }
        return negative ? value : -value;
    }
}
