package ctrbench.flink.format;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a deserializer into a buffer, then emits the buffered rows: whatever the deserializer decides
 * about a record (skip it, fail) stays its decision, and whatever happens downstream of the emit
 * propagates unchanged. Rows are newly allocated by Flink's JSON converters, so buffering them is
 * safe; the buffer holds one record's rows (one row, or one per element of a JSON array).
 *
 * <p>A record that is JSON {@code null} (or an array element that is) parses to a null row, which no
 * table can hold: the Kafka source refuses it ("Invalid null value received in non-upsert mode").
 * Flink's format let that refusal pass as a parse error; here such a record is not a row and is
 * skipped, as any other record that is not a JSON object.
 *
 * <p>The deserializer reads integer columns as text; each row it makes gets their values by the event
 * rule ({@link RuleColumns}). With a {@link FlatObjectDecoder} (rows of text and integer fields only),
 * records it understands skip the deserializer altogether; it returns the row the deserializer and the
 * rule would have made.
 */
final class ParseThenEmit implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private final DeserializationSchema<RowData> parser;
    private final RuleColumns columns;
    private final FlatObjectDecoder flat; // null: every record takes the parser
    private final TypeInformation<RowData> producedType;
    private transient List<RowData> parsed;
    private transient Collector<RowData> intoParsed;

    /**
     * {@code parser} reads the integer columns of {@code columns} as text; {@code producedType} is the
     * row type with those columns as integers.
     */
    ParseThenEmit(DeserializationSchema<RowData> parser, RuleColumns columns, FlatObjectDecoder flat,
            TypeInformation<RowData> producedType) {
        this.parser = parser;
        this.columns = columns;
        this.flat = flat;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) throws Exception {
        parser.open(context);
        parsed = new ArrayList<>(1);
        intoParsed = new ListCollector<>(parsed);
    }

    @Override
    public void deserialize(byte[] message, Collector<RowData> out) throws IOException {
        GenericRowData decoded = flat == null ? null : flat.decode(message);
        if (decoded != null) {
            out.collect(decoded);
            return;
        }
        parsed.clear();
        parser.deserialize(message, intoParsed);
        try {
            for (RowData row : parsed) {
                if (row != null) {
                    out.collect(columns.toRule(row));
                }
            }
        } finally {
            parsed.clear();
        }
    }

    /** One record, one row (or null): no collector, so nothing downstream runs inside the parser. */
    @Override
    public RowData deserialize(byte[] message) throws IOException {
        GenericRowData decoded = flat == null ? null : flat.decode(message);
        return decoded != null ? decoded : columns.toRule(parser.deserialize(message));
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return parser.isEndOfStream(nextElement);
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
