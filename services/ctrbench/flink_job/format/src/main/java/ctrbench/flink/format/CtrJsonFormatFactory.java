package ctrbench.flink.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.formats.json.JsonFormatFactory;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.util.Set;

/**
 * Table format {@code ctr-json}: Flink's {@code json} decoding format with the same options, made
 * safe to use with {@code ignore-parse-errors}.
 *
 * <p>Flink's JSON deserializers hand each row to the collector inside the {@code try} that skips
 * parse errors. A source's collector runs the whole chain of operators behind it (calc, lookup join,
 * local aggregation, a chained sink writer), so with {@code ignore-parse-errors} a failure in any of
 * them (a lookup whose database is down, a sink that cannot write) was caught as a parse error and
 * the record dropped without a trace, while the job ran on. FLINK-36549 fixed the same flaw for the
 * CDC JSON formats, not for {@code json}. Here the record is parsed into a buffer first and handed on
 * afterwards, outside that {@code try}: unparseable records are still skipped, and any other failure
 * fails the task, which restarts from its checkpoint.
 *
 * <p>Records that are flat objects of plain strings and integers (what the producers write) are
 * decoded without Jackson when every column is text ({@link FlatObjectDecoder}), to the same rows.
 */
public final class CtrJsonFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "ctr-json";

    private final JsonFormatFactory json = new JsonFormatFactory();

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        DecodingFormat<DeserializationSchema<RowData>> inner =
                json.createDecodingFormat(context, formatOptions);
        if (!(inner instanceof ProjectableDecodingFormat)) {
            throw new IllegalStateException(
                    "Flink's json format no longer supports projection; ctr-json needs updating");
        }
        return new Projectable((ProjectableDecodingFormat<DeserializationSchema<RowData>>) inner);
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return json.requiredOptions();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return json.optionalOptions();
    }

    @Override
    public Set<ConfigOption<?>> forwardOptions() {
        return json.forwardOptions();
    }

    /** The json decoding format with each runtime decoder wrapped in {@link ParseThenEmit}. */
    private static final class Projectable
            implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {

        private final ProjectableDecodingFormat<DeserializationSchema<RowData>> inner;

        Projectable(ProjectableDecodingFormat<DeserializationSchema<RowData>> inner) {
            this.inner = inner;
        }

        @Override
        public DeserializationSchema<RowData> createRuntimeDecoder(
                DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
            return new ParseThenEmit(
                    inner.createRuntimeDecoder(context, physicalDataType, projections),
                    flatDecoder(physicalDataType, projections));
        }

        /** The fast path for rows of top-level text fields (the job's events table), else null. */
        private static FlatObjectDecoder flatDecoder(DataType physicalDataType, int[][] projections) {
            for (int[] path : projections) {
                if (path.length != 1) {
                    return null; // a nested field
                }
            }
            DataType produced = Projection.of(projections).project(physicalDataType);
            for (DataType field : DataType.getFieldDataTypes(produced)) {
                LogicalTypeRoot root = field.getLogicalType().getTypeRoot();
                if (root != LogicalTypeRoot.VARCHAR && root != LogicalTypeRoot.CHAR) {
                    return null;
                }
            }
            return FlatObjectDecoder.forFields(DataType.getFieldNames(produced));
        }

        @Override
        public boolean supportsNestedProjection() {
            return inner.supportsNestedProjection();
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return inner.getChangelogMode();
        }
    }
}
