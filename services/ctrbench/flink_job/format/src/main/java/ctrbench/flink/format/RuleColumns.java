package ctrbench.flink.format;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The integer columns of a {@code ctr-json} row: a top-level INT or BIGINT column holds the integer its
 * field's text is by the event rule ({@link RuleInteger}), else NULL. The text is a JSON number's digits
 * or a JSON string's content, exactly what Flink's JSON format gives a STRING column, so {@code 7} and
 * {@code "7"} are 7 while {@code 7.0}, {@code " 7"}, {@code true} or an out-of-range number are NULL and
 * never a parse error. Both paths read them so: Jackson's parses such a column as STRING and {@link
 * #toRule} converts it; the fast path converts straight from the record's bytes.
 *
 * <p>The job once read these columns as STRING and applied the rule in SQL, which Flink evaluates
 * again at every reference, with a copy of the text per operator; typed columns cost nothing after
 * the source.
 */
final class RuleColumns implements Serializable {

    private static final long serialVersionUID = 1L;

    private static final byte OTHER = 0;
    private static final byte INT = 1;
    private static final byte BIGINT = 2;

    /** Per field of the produced row: OTHER, INT or BIGINT. */
    private final byte[] kinds;

    /** Positions of the INT and BIGINT fields. */
    private final int[] integers;

    private RuleColumns(byte[] kinds) {
        this.kinds = kinds;
        this.integers = IntStream.range(0, kinds.length).filter(f -> kinds[f] != OTHER).toArray();
    }

    /**
     * The integer columns of {@code produced}, a row type whose field {@code f} is the physical row's field
     * at path {@code projections[f]}; a nested field (a path longer than one) is never one.
     *
     * @throws ValidationException for an integer column declared NOT NULL: the rule gives NULL for a
     *     value that is not an integer
     */
    static RuleColumns of(DataType produced, int[][] projections) {
        List<String> names = DataType.getFieldNames(produced);
        List<DataType> types = DataType.getFieldDataTypes(produced);
        byte[] kinds = new byte[types.size()];
        for (int f = 0; f < kinds.length; f++) {
            kinds[f] = projections[f].length == 1 ? kind(types.get(f).getLogicalType()) : OTHER;
            if (kinds[f] != OTHER && !types.get(f).getLogicalType().isNullable()) {
                throw new ValidationException(String.format(
                        "ctr-json reads column '%s' by the event rule, which gives NULL for a value that is "
                                + "not an integer: declare it %s without NOT NULL",
                        names.get(f), types.get(f).getLogicalType().copy(true).asSummaryString()));
            }
        }
        return new RuleColumns(kinds);
    }

    /** {@code physical} (a row type) with its top-level INT and BIGINT fields as STRING: what Jackson's path parses. */
    static DataType asParsed(DataType physical) {
        List<String> names = DataType.getFieldNames(physical);
        List<DataType> types = DataType.getFieldDataTypes(physical);
        List<DataTypes.Field> fields = new ArrayList<>(types.size());
        for (int f = 0; f < types.size(); f++) {
            DataType type = kind(types.get(f).getLogicalType()) == OTHER ? types.get(f) : DataTypes.STRING();
            fields.add(DataTypes.FIELD(names.get(f), type));
        }
        DataType row = DataTypes.ROW(fields).bridgedTo(physical.getConversionClass());
        return physical.getLogicalType().isNullable() ? row : row.notNull();
    }

    private static byte kind(LogicalType type) {
        LogicalTypeRoot root = type.getTypeRoot();
        return root == LogicalTypeRoot.INTEGER ? INT : root == LogicalTypeRoot.BIGINT ? BIGINT : OTHER;
    }

    /** Whether field {@code f} is an integer column. */
    boolean isInteger(int f) {
        return kinds[f] != OTHER;
    }

    /** The value of integer field {@code f} whose text is {@code bytes[offset, offset + length)}: Integer, Long or null. */
    Object value(int f, byte[] bytes, int offset, int length) {
        if (kinds[f] == INT) {
            Long value = RuleInteger.parse(bytes, offset, length, Integer.MIN_VALUE, Integer.MAX_VALUE);
            return value == null ? null : Integer.valueOf(value.intValue());
        }
        return RuleInteger.parse(bytes, offset, length, Long.MIN_VALUE, Long.MAX_VALUE);
    }

    /**
     * {@code parsed}, a row of Jackson's path (integer columns as text), with the integer columns'
     * values by the rule.
     */
    RowData toRule(RowData parsed) {
        if (integers.length == 0 || parsed == null) {
            return parsed;
        }
        if (!(parsed instanceof GenericRowData)) {
            throw new IllegalStateException("Flink's JSON converters no longer make GenericRowData ("
                    + parsed.getClass().getName() + "); ctr-json needs updating");
        }
        GenericRowData row = (GenericRowData) parsed;
        for (int f : integers) {
            StringData text = (StringData) row.getField(f);
            byte[] bytes = text == null ? null : text.toBytes();
            row.setField(f, bytes == null ? null : value(f, bytes, 0, bytes.length));
        }
        return row;
    }
}
