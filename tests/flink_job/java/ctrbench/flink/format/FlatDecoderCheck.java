package ctrbench.flink.format;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.JsonParserRowDataDeserializationSchema;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Test harness (run by tests/flink_job/test_flat_decoder.py): every record of a file (4-byte big-endian
 * length, then the bytes) through the fast path and through Jackson's path (Flink's own JSON deserializer
 * with the job's options, integer columns parsed as text, then {@link RuleColumns}). Wherever the fast
 * path answers, its row must be the one Jackson's path gives.
 *
 * <p>Usage: FlatDecoderCheck FILE NAME:TYPE... (TYPE: STRING, INT or BIGINT, then ! for NOT NULL); prints
 * "records N fast F agree A" and one line per disagreement, and exits 1 if there is any.
 */
public final class FlatDecoderCheck {

    public static void main(String[] args) throws Exception {
        List<String> names = new ArrayList<>();
        List<DataTypes.Field> fields = new ArrayList<>();
        for (String spec : Arrays.asList(args).subList(1, args.length)) {
            String[] nameType = spec.split(":");
            DataType type = switch (nameType[1].replace("!", "")) {
                case "INT" -> DataTypes.INT();
                case "BIGINT" -> DataTypes.BIGINT();
                default -> DataTypes.STRING();
            };
            if (nameType[1].endsWith("!")) {
                type = type.notNull();
            }
            names.add(nameType[0]);
            fields.add(DataTypes.FIELD(nameType[0], type));
        }
        DataType produced = DataTypes.ROW(fields);
        int[][] topLevel = new int[names.size()][];
        for (int f = 0; f < topLevel.length; f++) {
            topLevel[f] = new int[] {f};
        }
        RuleColumns columns = RuleColumns.of(produced, topLevel);
        RowType parsedType = (RowType) RuleColumns.asParsed(produced).getLogicalType();
        // The events table's options: ignore-parse-errors true, fail-on-missing-field false.
        JsonParserRowDataDeserializationSchema jackson = new JsonParserRowDataDeserializationSchema(
                parsedType, InternalTypeInfo.of(parsedType), false, true, TimestampFormat.SQL, null);
        jackson.open(null);
        FlatObjectDecoder flat = FlatObjectDecoder.forFields(names, columns);

        int records = 0;
        int fast = 0;
        int agree = 0;
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(args[0])))) {
            while (true) {
                byte[] message;
                try {
                    message = new byte[in.readInt()];
                } catch (EOFException end) {
                    break;
                }
                in.readFully(message);
                records++;
                GenericRowData row = flat.decode(message);
                if (row == null) {
                    continue;
                }
                fast++;
                List<RowData> rows = new ArrayList<>();
                jackson.deserialize(message, new ListCollector<>(rows));
                if (rows.size() == 1 && sameFields(row, columns.toRule(rows.get(0)), names.size())) {
                    agree++;
                } else {
                    System.out.println("DISAGREE record " + (records - 1) + ": fast " + row + ", jackson " + rows);
                }
            }
        }
        System.out.println("records " + records + " fast " + fast + " agree " + agree);
        System.exit(fast == agree ? 0 : 1);
    }

    /** Field by field: integers as Integer or Long (the type too), text by its characters. */
    private static boolean sameFields(GenericRowData a, RowData b, int arity) {
        if (!(b instanceof GenericRowData) || b.getArity() != arity) {
            return false;
        }
        for (int i = 0; i < arity; i++) {
            Object x = a.getField(i);
            Object y = ((GenericRowData) b).getField(i);
            if (x == null || y == null ? x != y : !String.valueOf(x).equals(String.valueOf(y))
                    || x.getClass() != y.getClass()) {
                return false;
            }
        }
        return true;
    }
}
