package ctrbench.flink.format;

/**
 * An integer by the event rule of {@code services/ctrbench/validity.py}: an optional {@code -}, then
 * one or more ASCII digits and nothing else, within the SQL type's range. Leading zeros are allowed;
 * {@code " 7"}, {@code "+7"}, {@code "7.0"} and non-ASCII digits are not integers.
 *
 * <p>{@code ctr-json} reads its INT and BIGINT columns with it ({@link RuleColumns}): the fast path over the
 * record's own bytes, Jackson's path over the text Flink's JSON converters give (a number's digits or a
 * string's content). The job's SQL then needs no parse of its own: done there, per reference, the test was
 * a third of the source task's CPU, and even as a Java function with the last value kept, a sixth.
 */
final class RuleInteger {

    private RuleInteger() {}

    /**
     * The value of the UTF-8 text at {@code bytes[offset, offset + length)}, or null. Any byte of a
     * non-ASCII character lies outside '0'..'9', so such a text is never an integer, as the rule says.
     */
    static Long parse(byte[] bytes, int offset, int length, long min, long max) {
        int i = offset;
        int end = offset + length;
        boolean negative = length > 0 && bytes[i] == '-';
        if (negative) {
            i++;
        }
        if (i == end) {
            return null; // "" or "-"
        }
        // Accumulated as a negative number, as Long.parseLong does, so that min itself fits.
        long limit = negative ? min : -max;
        long beforeLastDigit = limit / 10;
        long value = 0;
        for (; i < end; i++) {
            int digit = bytes[i] - '0';
            if (digit < 0 || digit > 9) {
                return null;
            }
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
