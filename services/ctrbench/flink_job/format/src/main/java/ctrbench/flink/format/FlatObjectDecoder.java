package ctrbench.flink.format;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.core.memory.MemorySegmentFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.io.Serializable;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The fast path of {@code ctr-json}: a record that is one flat JSON object of plain strings and plain
 * integers, with every declared field present once, becomes a row without Jackson.
 *
 * <p>The producers write exactly such records, and for them Jackson's work was most of the source
 * task's time: a token per field name and value, field names hashed into a symbol table, a Java
 * String per value and, downstream, those Strings encoded back to UTF-8. Here the record's bytes are
 * scanned once and each declared value is handed on as a {@link BinaryStringData} over the record's
 * own bytes (one memory segment per record, shared by its values).
 *
 * <p>Integer columns ({@link RuleColumns}) take the value their field's text is by the event rule, from
 * a string's content or a number's digits, as Jackson's path gives them.
 *
 * <p>The fast path answers only where its answer is provably Jackson's (through Flink's JSON
 * converters and {@link RuleColumns}): anything it does not fully understand returns {@code null}, and
 * the caller takes Jackson's path for that record. It accepts: optional JSON whitespace, <code>{</code>, then members
 * whose key is a string and whose value is a string or an integer, separated by commas, then
 * <code>}</code>; whatever follows is ignored, as Jackson ignores it. A string qualifies when it holds
 * only ASCII without control characters or a backslash (so its bytes are its text); an integer when it is
 * {@code -?(0|[1-9][0-9]*)} with at most 19 digits and is followed by whitespace, a comma or
 * <code>}</code> (Jackson then gives its text unchanged, as for a string). Everything else takes
 * Jackson's path: escapes, non-ASCII, control characters, fractions, exponents, {@code true},
 * {@code false}, {@code null}, objects and arrays as values, a byte-order mark, a top-level array, a
 * declared field missing or repeated, and any syntax error.
 */
final class FlatObjectDecoder implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Longest integer taken here; Jackson gives longer ones as text too, but within its own limits. */
    private static final int MAX_DIGITS = 19;

    /** Longest string value taken here: far below Jackson's limit (20 million), so never refused there. */
    private static final int MAX_STRING = 1 << 20;

    /** Longest key taken here: far below Jackson's limit on names (50,000 since 2.16), never refused there. */
    private static final int MAX_KEY = 256;

    private static final VarHandle LONGS =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long LOW_BITS = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;
    private static final long QUOTES = '"' * LOW_BITS;
    private static final long BACKSLASHES = '\\' * LOW_BITS;
    private static final long SPACES = ' ' * LOW_BITS;

    /** The produced row's field names in UTF-8, in the row's order. */
    private final byte[][] names;

    /** Which fields are integers by the event rule. */
    private final RuleColumns columns;

    /** The first eight bytes of each name of eight bytes or more, as a word (0 for shorter names). */
    private final long[] heads;

    private final long allFields;

    private FlatObjectDecoder(byte[][] names, RuleColumns columns) {
        this.names = names;
        this.columns = columns;
        this.heads = new long[names.length];
        for (int f = 0; f < names.length; f++) {
            heads[f] = names[f].length >= 8 ? (long) LONGS.get(names[f], 0) : 0;
        }
        this.allFields = names.length == 64 ? -1L : (1L << names.length) - 1;
    }

    /**
     * A decoder for rows with these field names, each text (CHAR, VARCHAR) or an integer of {@code columns},
     * or null when the fast path cannot produce such rows (more than 64 fields).
     */
    static FlatObjectDecoder forFields(List<String> fieldNames, RuleColumns columns) {
        if (fieldNames.isEmpty() || fieldNames.size() > 64) {
            return null;
        }
        byte[][] names = new byte[fieldNames.size()][];
        for (int i = 0; i < names.length; i++) {
            names[i] = fieldNames.get(i).getBytes(StandardCharsets.UTF_8);
        }
        return new FlatObjectDecoder(names, columns);
    }

    /** The row {@code message} is, or null when Jackson's path must decide. */
    GenericRowData decode(byte[] message) {
        if (message == null) {
            return null;
        }
        final byte[] m = message;
        final int n = m.length;
        int i = skipWhitespace(m, 0);
        if (i >= n || m[i] != '{') {
            return null;
        }
        GenericRowData row = new GenericRowData(names.length);
        // The record's bytes as one memory segment that every value of the row points into.
        MemorySegment[] record = null;
        long found = 0;
        i = skipWhitespace(m, i + 1);
        while (true) {
            // A key.
            if (i >= n || m[i] != '"') {
                return null; // also "{}" and "{,": an empty object lacks every declared field
            }
            int keyStart = i + 1;
            int keyEnd = endOfPlainString(m, keyStart, MAX_KEY);
            if (keyEnd < 0) {
                return null;
            }
            i = skipWhitespace(m, keyEnd + 1);
            if (i >= n || m[i] != ':') {
                return null;
            }
            i = skipWhitespace(m, i + 1);
            if (i >= n) {
                return null;
            }
            // Its value.
            int valueStart;
            int valueEnd;
            byte b = m[i];
            if (b == '"') {
                valueStart = i + 1;
                valueEnd = endOfPlainString(m, valueStart, MAX_STRING);
                if (valueEnd < 0) {
                    return null;
                }
                i = valueEnd + 1;
            } else if (b == '-' || (b >= '0' && b <= '9')) {
                valueStart = i;
                valueEnd = endOfInteger(m, i);
                if (valueEnd < 0) {
                    return null;
                }
                i = valueEnd;
            } else {
                return null;
            }
            int field = fieldIndex(m, keyStart, keyEnd);
            if (field >= 0) {
                long bit = 1L << field;
                if ((found & bit) != 0) {
                    return null; // a repeated key: Flink's converter has its own answer
                }
                found |= bit;
                if (columns.isInteger(field)) {
                    row.setField(field, columns.value(field, m, valueStart, valueEnd - valueStart));
                } else {
                    if (record == null) {
                        record = new MemorySegment[] {MemorySegmentFactory.wrap(m)};
                    }
                    row.setField(field, BinaryStringData.fromAddress(record, valueStart, valueEnd - valueStart));
                }
            }
            // A comma and the next member, or the end of the object.
            i = skipWhitespace(m, i);
            if (i >= n) {
                return null;
            }
            if (m[i] == '}') {
                return found == allFields ? row : null;
            }
            if (m[i] != ',') {
                return null;
            }
            i = skipWhitespace(m, i + 1);
        }
    }

    private int fieldIndex(byte[] m, int start, int end) {
        int length = end - start;
        // A key is followed by at least '"', ':' and a value, so its first eight bytes can be read as
        // one word: most keys differ from every name there.
        long head = start + 8 <= m.length ? (long) LONGS.get(m, start) : 0;
        for (int f = 0; f < names.length; f++) {
            byte[] name = names[f];
            if (name.length == length && (length < 8 || head == heads[f]) && regionEquals(m, start, name)) {
                return f;
            }
        }
        return -1;
    }

    private static boolean regionEquals(byte[] m, int start, byte[] name) {
        int length = name.length;
        if (length < 8) {
            for (int k = 0; k < length; k++) {
                if (m[start + k] != name[k]) {
                    return false;
                }
            }
            return true;
        }
        // A word at a time; the last word may overlap the one before it.
        for (int k = 0; ; k += 8) {
            int at = Math.min(k, length - 8);
            if ((long) LONGS.get(m, start + at) != (long) LONGS.get(name, at)) {
                return false;
            }
            if (at == length - 8) {
                return true;
            }
        }
    }

    /** JSON whitespace only: space, tab, line feed, carriage return. */
    private static int skipWhitespace(byte[] m, int i) {
        while (i < m.length) {
            byte b = m[i];
            // Most calls find a token at once: every byte above the space is one (bytes are signed, so
            // 0x80 and above take the full test, and are not whitespace either).
            if (b > ' ' || (b != ' ' && b != '\t' && b != '\n' && b != '\r')) {
                break;
            }
            i++;
        }
        return i;
    }

    /**
     * The index of the closing quote of a string whose content starts at {@code start}, or -1 unless
     * the content is ASCII without control characters or a backslash (those, bytes of 0x80 and above,
     * and escapes take Jackson's path) and at most {@code maxLength} bytes long.
     */
    private static int endOfPlainString(byte[] m, int start, int maxLength) {
        int limit = Math.min(m.length, start + maxLength + 1); // room for the closing quote
        int i = start;
        // Eight bytes at a time. In the mask the lowest set bit marks the first special byte exactly
        // (the tricks may also mark bytes after it, never before), and words are read little-endian.
        while (i + 8 <= limit) {
            long w = (long) LONGS.get(m, i);
            long quotes = w ^ QUOTES;
            long backslashes = w ^ BACKSLASHES;
            // High bit of a byte set where it is a quote or a backslash (the byte XOR that char is zero), below
            // a space (subtracting the space borrows) or 0x80 and above (already set).
            long special = (((quotes - LOW_BITS) & ~quotes) | ((backslashes - LOW_BITS) & ~backslashes)
                    | (w - SPACES) | w) & HIGH_BITS;
            if (special != 0) {
                int at = i + (Long.numberOfTrailingZeros(special) >>> 3);
                return m[at] == '"' ? at : -1;
            }
            i += 8;
        }
        for (; i < limit; i++) {
            byte b = m[i];
            if (b == '"') {
                return i;
            }
            // Bytes are signed: 0x80 and above are negative.
            if (b < 0x20 || b == '\\') {
                return -1;
            }
        }
        return -1;
    }

    /**
     * The index after an integer {@code -?(0|[1-9][0-9]*)} of at most {@link #MAX_DIGITS} digits
     * starting at {@code start} and followed by whitespace, a comma or a closing brace; else -1.
     */
    private static int endOfInteger(byte[] m, int start) {
        int i = start;
        if (m[i] == '-') {
            i++;
        }
        int firstDigit = i;
        while (i < m.length && m[i] >= '0' && m[i] <= '9') {
            i++;
        }
        int digits = i - firstDigit;
        if (digits == 0 || digits > MAX_DIGITS || (digits > 1 && m[firstDigit] == '0') || i >= m.length) {
            return -1;
        }
        byte next = m[i];
        if (next == ',' || next == '}' || next == ' ' || next == '\t' || next == '\n' || next == '\r') {
            return i;
        }
        return -1;
    }
}
