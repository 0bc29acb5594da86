package ctrbench.flink.format;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.JsonParserRowDataDeserializationSchema;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Test harness (run by tests/flink_job/test_flat_decoder.py): every record of a file (4-byte big-endian
 * length, then the bytes) through the fast path and through Flink's own JSON deserializer with the
 * job's options. Wherever the fast path answers, its row must be the one Jackson's path gives.
 *
 * <p>Usage: FlatDecoderCheck FILE FIELD... ; prints "records N fast F agree A" and one line per
 * disagreement, and exits 1 if there is any.
 */
public final class FlatDecoderCheck {

    public static void main(String[] args) throws Exception {
        List<String> names = Arrays.asList(args).subList(1, args.length);
        LogicalType[] types = new LogicalType[names.size()];
        Arrays.fill(types, new VarCharType(VarCharType.MAX_LENGTH));
        RowType rowType = RowType.of(types, names.toArray(new String[0]));
        // The events table's options: ignore-parse-errors true, fail-on-missing-field false.
        JsonParserRowDataDeserializationSchema jackson = new JsonParserRowDataDeserializationSchema(
                rowType, InternalTypeInfo.of(rowType), false, true, TimestampFormat.SQL, null);
        jackson.open(null);
        FlatObjectDecoder flat = FlatObjectDecoder.forFields(names);

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
                if (rows.size() == 1 && sameFields(row, rows.get(0), names.size())) {
                    agree++;
                } else {
                    System.out.println("DISAGREE record " + (records - 1) + ": fast " + row + ", jackson " + rows);
                }
            }
        }
        System.out.println("records " + records + " fast " + fast + " agree " + agree);
        System.exit(fast == agree ? 0 : 1);
    }

    private static boolean sameFields(RowData a, RowData b, int arity) {
        if (b == null || b.getArity() != arity) {
            return false;
        }
        for (int i = 0; i < arity; i++) {
            if (a.isNullAt(i) != b.isNullAt(i)) {
                return false;
            }
            if (!a.isNullAt(i) && !a.getString(i).toString().equals(b.getString(i).toString())) {
                return false;
            }
        }
        return true;
    }
}
