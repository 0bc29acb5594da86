package ctrbench.flink.format;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.core.memory.MemorySegmentFactory;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;

/**
 * An integer by the event rule of {@code services/ctrbench/validity.py}: an optional {@code -}, then
 * one or more ASCII digits and nothing else, within the SQL type's range. Leading zeros are allowed;
 * {@code " 7"}, {@code "+7"}, {@code "7.0"} and non-ASCII digits are not integers.
 *
 * <p>Replaces {@code CASE WHEN IS_DIGIT(...) THEN TRY_CAST(...) END} in the job's SQL: that form decoded the
 * text to a Java string, trimmed and copied it, and Flink's code generation evaluates it at every
 * reference (the event time appears a dozen times per record between the watermark, the window and the
 * rule), which made it a third of the source task's CPU. Here the test reads the text's UTF-8 bytes where
 * they lie (the record's own bytes, from {@link FlatObjectDecoder}), and only the first reference per
 * record parses ({@link RuleIntegerFunction}).
 */
final class RuleInteger {

    private RuleInteger() {}

    /** The value of {@code text}, or null when it is not an integer by the rule or outside [min, max]. */
    static Long parse(StringData text, long min, long max) {
        if (text == null) {
            return null;
        }
        BinaryStringData s = (BinaryStringData) text; // StringData's only implementation
        // A string made from a Java String (Jackson's path) gets its bytes here; one made from bytes has them.
        s.ensureMaterialized();
        MemorySegment[] segments = s.getSegments();
        if (segments.length == 1) {
            return parse(segments[0], s.getOffset(), s.getSizeInBytes(), min, max);
        }
        return parse(MemorySegmentFactory.wrap(s.toBytes()), 0, s.getSizeInBytes(), min, max);
    }

    /**
     * The value of the UTF-8 text at {@code segment[offset, offset + length)}, or null. Any byte of a
     * non-ASCII character lies outside '0'..'9', so such a text is never an integer, as the rule says.
     */
    static Long parse(MemorySegment segment, int offset, int length, long min, long max) {
        int i = 0;
        boolean negative = length > 0 && segment.get(offset) == '-';
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
            byte b = segment.get(offset + i);
            if (b < '0' || b > '9') {
                return null;
            }
            int digit = b - '0';
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
